package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

const unreachableKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster:
    server: https://127.0.0.1:1
contexts:
- name: nowhere
  context:
    cluster: nowhere
    user: nobody
- name: team
  context:
    cluster: nowhere
    user: nobody
    namespace: Team_NS
current-context: nowhere
users:
- name: nobody
  user:
    token: x
`

// env is a fixed environment for run.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// kubeconfigFor points a kubeconfig at server.
func kubeconfigFor(t *testing.T, server string) string {
	t.Helper()
	return writeTemp(t, "kubeconfig", fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q, insecure-skip-tls-verify: true}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
users: [{name: u, user: {token: t}}]
current-context: c
`, server))
}

// listed are the resources whose lists the fake API server answers (empty).
var listed = map[string]bool{"horizontalpodautoscalers": true, "pods": true, "nodes": true, "daemonsets": true, "deployments": true,
	"events": true, "services": true, "endpoints": true, "endpointslices": true, "apiservices": true, "configmaps": true}

// fakeAPIServer answers /version (unless hangVersion); every other request
// hangs (hang) or gets an empty list (listed resources) or a 404 Status.
func fakeAPIServer(t *testing.T, hangVersion, hang bool) string {
	t.Helper()
	stop := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/version" && !hangVersion {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"major":"1","minor":"36","gitVersion":"v1.36.3"}`)
			return
		}
		if hang || hangVersion {
			select {
			case <-stop:
			case <-r.Context().Done():
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodGet && listed[r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]] {
			fmt.Fprint(w, `{"metadata":{},"items":[]}`)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"not found"}`)
	}))
	t.Cleanup(func() { close(stop); srv.Close() })
	return kubeconfigFor(t, srv.URL)
}

func runCmd(t *testing.T, getenv func(string) string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, getenv, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestUsageErrorsExitTwoWithOneLine(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	badValues := filepath.Join(dir, "bad.yaml")
	for p, content := range map[string]string{kubeconfig: unreachableKubeconfig, badValues: "services: [\n"} {
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hung := fakeAPIServer(t, true, true)
	chart := "internal/deploy/testdata/chart"
	deploy := []string{"--action", "deploy", "--chart", chart, "--kubeconfig", kubeconfig}
	with := func(base []string, more ...string) []string { return append(append([]string{}, base...), more...) }
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no action", nil, nil, "--action is required"},
		{"unknown action", nil, []string{"--action", "destroy"}, `--action "destroy" is not one of`},
		{"unknown flag", nil, []string{"--action", "status", "--force"}, "unknown flag: --force"},
		{"positional argument", nil, []string{"--action", "status", "extra"}, `unexpected argument "extra"`},
		{"values with status", nil, []string{"--action", "status", "--values", "x.yaml"}, "only apply to --action deploy"},
		{"set-string with doctor", nil, []string{"--action", "doctor", "--set-string", "a=b"}, "only apply to --action deploy"},
		{"set-file with undeploy", nil, []string{"--action", "undeploy", "--set-file", "a=b"}, "only apply to --action deploy"},
		{"zero timeout", nil, []string{"--action", "undeploy", "--timeout", "0s"}, "--timeout must be positive"},
		{"bad timeout", nil, []string{"--action", "undeploy", "--timeout", "soon"}, `invalid argument "soon" for "--timeout" flag`},
		{"bad namespace", nil, []string{"--action", "doctor", "--namespace", "Medical_KG"}, `--namespace "Medical_KG"`},
		{"bad -n", nil, []string{"--action", "doctor", "-n", "Medical_KG"}, `--namespace "Medical_KG"`},
		{"bad HELM_NAMESPACE", map[string]string{"HELM_NAMESPACE": "Helm_NS"}, []string{"--action", "status", "--kubeconfig", kubeconfig}, "the namespace came from $HELM_NAMESPACE"},
		{"bad kubeconfig context namespace", nil, []string{"--action", "status", "--kubeconfig", kubeconfig, "--context", "team"}, `"Team_NS"`},
		{"kube-context reads the context's namespace", nil, []string{"--action", "status", "--kubeconfig", kubeconfig, "--kube-context", "team"}, "the namespace came from the kubeconfig context"},
		{"HELM_NAMESPACE wins over the context", map[string]string{"HELM_NAMESPACE": "Helm_NS"}, []string{"--action", "status", "--kubeconfig", kubeconfig, "--context", "team"}, `"Helm_NS"`},
		{"context and kube-context disagree", nil, []string{"--action", "status", "--context", "a", "--kube-context", "b"}, "--context \"a\" and --kube-context \"b\" disagree"},
		{"bad output", nil, []string{"--action", "doctor", "-o", "xml"}, `-o "xml" is not one of table, json, yaml`},
		{"output with deploy", nil, []string{"--action", "deploy", "-o", "json"}, "-o json only applies to --action status and --action doctor"},
		{"bad prometheus url", nil, []string{"--action", "doctor", "--prometheus-url", "localhost:9090"}, "expected http(s)://host:port"},
		{"bad node selector", nil, []string{"--action", "doctor", "--gpu-node-selector", "a in"}, "--gpu-node-selector"},
		{"missing chart", nil, []string{"--action", "deploy", "--chart", "charts/missing", "--kubeconfig", kubeconfig}, "pass --chart"},
		{"chart version of a local chart", nil, with(deploy, "--chart-version", "1.0.0"), "--chart-version 1.0.0: chart"},
		{"unreachable chart repository", nil, with(deploy, "--chart", "gpu-autoscaling", "--repo", "http://127.0.0.1:1"), "fetch chart gpu-autoscaling in the repository http://127.0.0.1:1"},
		{"invalid values file", nil, with(deploy, "--values", badValues), "fix the YAML file"},
		{"missing values file", nil, with(deploy, "-f", filepath.Join(dir, "none.yaml")), "none.yaml"},
		{"schema violation", nil, with(deploy, "--set", "replicas=-1"), "/replicas"},
		{"set with an empty key", nil, with(deploy, "--set", "=1"), `--set "=1": the key "" is empty`},
		{"set without =", nil, with(deploy, "--set", "foo"), `--set "foo": expected key=value, e.g. --set foo=VALUE`},
		{"set-string without =", nil, with(deploy, "--set-string", "label"), `--set-string "label": expected key=value`},
		{"set-file of a missing file", nil, with(deploy, "--set-file", "label="+filepath.Join(dir, "none.txt")), `--set-file "label=`},
		{"set of a number where a string is due", nil, with(deploy, "--set", "label=1"), "pass a value that must be a string with --set-string KEY=VALUE"},
		{"unreachable cluster on deploy", nil, deploy, "cluster unreachable at https://127.0.0.1:1"},
		{"unreachable cluster on status", nil, []string{"--action", "status", "--kubeconfig", kubeconfig}, "check --kubeconfig/--context"},
		{"hung API server and --timeout", nil, []string{"--action", "status", "--kubeconfig", hung, "--timeout", "1s"}, "no answer to GET /version within 1s (raise --timeout"},
		{"missing kubeconfig", nil, []string{"--action", "undeploy", "--kubeconfig", filepath.Join(dir, "nope")}, "load kubeconfig"},
		{"unknown context", nil, []string{"--action", "doctor", "--kubeconfig", kubeconfig, "--context", "prod"}, `context "prod" does not exist`},
		{"unknown kube-context", nil, []string{"--action", "doctor", "--kubeconfig", kubeconfig, "--kube-context", "prod"}, `context "prod" does not exist`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			code, stdout, msg := runCmd(t, env(tc.env), tc.args...)
			t.Logf("exit %d after %s", code, time.Since(start).Round(time.Millisecond))
			if code != exitUsage {
				t.Errorf("exit code %d, want %d; stderr: %s", code, exitUsage, msg)
			}
			if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "deploy-auto-scaling: ") {
				t.Errorf("want one line on stderr, got %q", msg)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("stderr %q does not say %q", msg, tc.want)
			}
			if stdout != "" {
				t.Errorf("nothing should be printed on stdout before the cluster is touched, got %q", stdout)
			}
		})
	}
}

// TestNamespaceFlagWinsOverEnvironment: an explicit -n beats $HELM_NAMESPACE
// and the kubeconfig context (whose bad names would otherwise be refused).
func TestNamespaceFlagWinsOverEnvironment(t *testing.T) {
	kubeconfig := writeTemp(t, "kubeconfig", unreachableKubeconfig)
	code, _, stderr := runCmd(t, env(map[string]string{"HELM_NAMESPACE": "Helm_NS"}),
		"--action", "status", "--kubeconfig", kubeconfig, "--context", "team", "-n", "ok-ns")
	if code != exitUsage || !strings.Contains(stderr, "cluster unreachable") {
		t.Errorf("exit %d, stderr %q: want the cluster reached for, the namespace accepted", code, stderr)
	}
}

// TestTimeoutBoundsStatusAndDoctor: an API server that answers /version and
// then hangs every request: status and doctor end with --timeout, exit 1,
// and say so; doctor still prints its (partial) report in every format.
func TestTimeoutBoundsStatusAndDoctor(t *testing.T) {
	kubeconfig := fakeAPIServer(t, false, true)
	for _, args := range [][]string{
		{"--action", "status"},
		{"--action", "status", "-o", "json"},
		{"--action", "doctor"},
		{"--action", "doctor", "-o", "json"},
		{"--action", "doctor", "-o", "yaml"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			start := time.Now()
			code, stdout, stderr := runCmd(t, env(nil), append(args, "--kubeconfig", kubeconfig, "--timeout", "1s")...)
			t.Logf("exit %d after %s", code, time.Since(start).Round(time.Millisecond))
			if code != exitFailed {
				t.Errorf("exit %d, want %d; stderr: %s", code, exitFailed, stderr)
			}
			if !strings.Contains(stderr, "did not finish within --timeout 1s") || strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr %q does not name the timeout in one line", stderr)
			}
			if args[1] == "doctor" && len(args) > 2 {
				var report struct {
					Checks  []map[string]any `json:"checks"`
					Summary map[string]int   `json:"summary"`
				}
				if err := yaml.Unmarshal([]byte(stdout), &report); err != nil || report.Summary == nil {
					t.Errorf("stdout is not a %s report (%v):\n%s", args[3], err, stdout)
				}
			}
		})
	}
}

// TestDoctorOutputFormats: doctor against an API server that knows no
// resources fails its checks; every format reports them and exits 1.
func TestDoctorOutputFormats(t *testing.T) {
	kubeconfig := fakeAPIServer(t, false, false)
	base := []string{"--action", "doctor", "--kubeconfig", kubeconfig, "--timeout", "20s"}
	code, table, stderr := runCmd(t, env(nil), base...)
	if code != exitFailed || !strings.Contains(table, "STATUS  CHECK") || !strings.Contains(stderr, "checks failed; apply the fixes above") {
		t.Fatalf("table: exit %d, stdout:\n%s\nstderr: %s", code, table, stderr)
	}
	for _, format := range []string{"json", "yaml"} {
		code, out, stderr := runCmd(t, env(nil), append(base, "-o", format)...)
		if code != exitFailed || !strings.Contains(stderr, "checks failed; apply the fixes in the report") {
			t.Errorf("%s: exit %d, want %d; stderr: %s", format, code, exitFailed, stderr)
		}
		if format == "json" && !json.Valid([]byte(out)) {
			t.Errorf("-o json printed invalid JSON:\n%s", out)
		}
		var report struct {
			Checks []struct {
				ID, Subject, Status, Detail, Fix string
			} `json:"checks"`
			Summary struct{ Passed, Warnings, Failed int } `json:"summary"`
		}
		if err := yaml.Unmarshal([]byte(out), &report); err != nil {
			t.Fatalf("%s: %v\n%s", format, err, out)
		}
		if report.Summary.Failed == 0 || len(report.Checks) == 0 {
			t.Errorf("%s: no failed checks in %+v", format, report)
		}
		for _, c := range report.Checks {
			if c.ID == "" || c.Status == "" || (c.Status == "FAIL" && c.Fix == "") {
				t.Errorf("%s: incomplete check %+v", format, c)
			}
			if !strings.Contains(table, c.ID) {
				t.Errorf("%s: check %s is not in the table output", format, c.ID)
			}
		}
	}
}

func TestHelpExitsZero(t *testing.T) {
	code, stdout, _ := runCmd(t, env(nil), "-h")
	if code != exitOK {
		t.Errorf("exit code %d", code)
	}
	for _, flag := range []string{"--action", "--values", "-f,", "--set ", "--set-string", "--set-file", "--namespace", "-n,", "--release", "--chart",
		"--kubeconfig", "--context", "--kube-context", "--timeout", "--output", "-o,", "--prometheus-url", "--exporter-job", "--gpu-node-selector",
		"--flap-threshold", "--debug", "--version", "HELM_NAMESPACE", "Exit codes"} {
		if !strings.Contains(stdout, flag) {
			t.Errorf("help lacks %s:\n%s", flag, stdout)
		}
	}
}

func TestVersionExitsZero(t *testing.T) {
	code, stdout, stderr := runCmd(t, env(nil), "--version")
	if code != exitOK || !strings.HasPrefix(stdout, "deploy-auto-scaling ") || strings.Count(stdout, "\n") != 1 || stderr != "" {
		t.Errorf("--version: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	t.Logf("%s", stdout)
}

func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{"bash": "__start_deploy-auto-scaling", "zsh": "#compdef deploy-auto-scaling", "fish": "complete -c deploy-auto-scaling", "powershell": "Register-ArgumentCompleter"} {
		code, stdout, stderr := runCmd(t, env(nil), "completion", shell)
		if code != exitOK || !strings.Contains(stdout, want) {
			t.Errorf("completion %s: exit %d, stderr %q, stdout lacks %q", shell, code, stderr, want)
		}
	}
	if code, stdout, stderr := runCmd(t, env(nil), "completion", "tcsh"); code != exitUsage || stdout != "" ||
		!strings.Contains(stderr, `unknown shell "tcsh": use one of bash, fish, powershell, zsh`) {
		t.Errorf("completion tcsh: exit %d, stdout %q, stderr %q; want exit %d naming the shells", code, stdout, stderr, exitUsage)
	}
	if code, stdout, _ := runCmd(t, env(nil), "completion"); code != exitOK || !strings.Contains(stdout, "bash") {
		t.Errorf("completion: exit %d, stdout %q; want its help", code, stdout)
	}
	kubeconfig := writeTemp(t, "kubeconfig", unreachableKubeconfig)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--action", ""}, []string{"deploy", "status", "undeploy", "doctor"}},
		{[]string{"-o", ""}, []string{"table", "json", "yaml"}},
		{[]string{"--kubeconfig", kubeconfig, "--kube-context", ""}, []string{"nowhere", "team"}},
	} {
		code, stdout, stderr := runCmd(t, env(nil), append([]string{"__complete"}, tc.args...)...)
		if code != exitOK {
			t.Errorf("__complete %v: exit %d, stderr %q", tc.args, code, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stdout, w+"\n") {
				t.Errorf("__complete %v lacks %s:\n%s", tc.args, w, stdout)
			}
		}
	}
}
