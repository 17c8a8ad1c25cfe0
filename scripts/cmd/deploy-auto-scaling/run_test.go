package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
current-context: nowhere
users:
- name: nobody
  user:
    token: x
`

func TestUsageErrorsExitTwoWithOneLine(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	badValues := filepath.Join(dir, "bad.yaml")
	for p, content := range map[string]string{kubeconfig: unreachableKubeconfig, badValues: "services: [\n"} {
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	chart := "internal/deploy/testdata/chart"
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no action", nil, "--action is required"},
		{"unknown action", []string{"--action", "destroy"}, `--action "destroy" is not one of`},
		{"unknown flag", []string{"--action", "status", "--force"}, "flag provided but not defined: -force"},
		{"positional argument", []string{"--action", "status", "extra"}, `unexpected argument "extra"`},
		{"values with status", []string{"--action", "status", "--values", "x.yaml"}, "only apply to --action deploy"},
		{"zero timeout", []string{"--action", "undeploy", "--timeout", "0s"}, "--timeout must be positive"},
		{"bad timeout", []string{"--action", "undeploy", "--timeout", "soon"}, "invalid value \"soon\" for flag -timeout"},
		{"bad namespace", []string{"--action", "doctor", "--namespace", "Medical_KG"}, "--namespace"},
		{"bad prometheus url", []string{"--action", "doctor", "--prometheus-url", "localhost:9090"}, "expected http(s)://host:port"},
		{"bad node selector", []string{"--action", "doctor", "--gpu-node-selector", "a in"}, "--gpu-node-selector"},
		{"missing chart", []string{"--action", "deploy", "--chart", "charts/missing", "--kubeconfig", kubeconfig}, "pass --chart"},
		{"invalid values file", []string{"--action", "deploy", "--chart", chart, "--values", badValues, "--kubeconfig", kubeconfig}, "fix the YAML file"},
		{"missing values file", []string{"--action", "deploy", "--chart", chart, "--values", filepath.Join(dir, "none.yaml"), "--kubeconfig", kubeconfig}, "none.yaml"},
		{"schema violation", []string{"--action", "deploy", "--chart", chart, "--set", "replicas=-1", "--kubeconfig", kubeconfig}, "/replicas"},
		{"unreachable cluster on deploy", []string{"--action", "deploy", "--chart", chart, "--kubeconfig", kubeconfig}, "cluster unreachable at https://127.0.0.1:1"},
		{"unreachable cluster on status", []string{"--action", "status", "--kubeconfig", kubeconfig}, "check --kubeconfig/--context"},
		{"missing kubeconfig", []string{"--action", "undeploy", "--kubeconfig", filepath.Join(dir, "nope")}, "load kubeconfig"},
		{"unknown context", []string{"--action", "doctor", "--kubeconfig", kubeconfig, "--context", "prod"}, `context "prod" does not exist`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tc.args, &stdout, &stderr)
			if code != exitUsage {
				t.Errorf("exit code %d, want %d; stderr: %s", code, exitUsage, stderr.String())
			}
			msg := stderr.String()
			if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "deploy-auto-scaling: ") {
				t.Errorf("want one line on stderr, got %q", msg)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("stderr %q does not say %q", msg, tc.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("nothing should be printed on stdout before the cluster is touched, got %q", stdout.String())
			}
		})
	}
}

func TestHelpExitsZero(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"-h"}, &stdout, &stderr); code != exitOK {
		t.Errorf("exit code %d", code)
	}
	for _, flag := range []string{"-action", "-values", "-set", "-namespace", "-release", "-chart", "-kubeconfig", "-context", "-timeout", "-prometheus-url"} {
		if !strings.Contains(stderr.String(), flag) {
			t.Errorf("help lacks %s:\n%s", flag, stderr.String())
		}
	}
}
