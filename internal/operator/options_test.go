package operator

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	helmtime "helm.sh/helm/v3/pkg/time"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/deploy"
	"github.com/medical-kg/gpu-autoscaling/internal/doctor"
	"github.com/medical-kg/gpu-autoscaling/internal/hpastatus"
)

func TestNextCommandKeepsClusterFlags(t *testing.T) {
	o := &Options{Namespace: "gpu", Release: "r1", Kubeconfig: "/k", Context: "c", PrometheusURL: "http://p:9090"}
	got := o.Next("doctor")
	want := "deploy-auto-scaling --action doctor --namespace gpu --release r1 --kubeconfig /k --context c --prometheus-url http://p:9090"
	if got != want {
		t.Errorf("Next = %q, want %q", got, want)
	}
	o = &Options{Namespace: "medical-kg", Release: "gpu-autoscaling"}
	if got := o.Next("status"); got != "deploy-auto-scaling --action status" {
		t.Errorf("Next with defaults = %q", got)
	}
}

func TestResolveNamespacePrecedence(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: plain, context: {cluster: c, user: u}}, {name: team, context: {cluster: c, user: u, namespace: team-a}}]
users: [{name: u, user: {token: t}}]
current-context: team
`
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, flag     string
		flagSet        bool
		env, kubeCtx   string
		want, wantFrom string
	}{
		{"flag wins", "ns-flag", true, "ns-env", "", "ns-flag", NamespaceFromFlag},
		{"an explicit empty flag is kept for Validate to refuse", "", true, "ns-env", "", "", NamespaceFromFlag},
		{"HELM_NAMESPACE over the context", "", false, "ns-env", "", "ns-env", NamespaceFromHelmEnv},
		{"the current context's namespace", "", false, "", "", "team-a", NamespaceFromKubeconfig},
		{"the --context's namespace", "", false, "", "team", "team-a", NamespaceFromKubeconfig},
		{"a context without namespace: the default", "", false, "", "plain", contract.DefaultNamespace, NamespaceFromDefault},
	} {
		got, from := ResolveNamespace(tc.flag, tc.flagSet, tc.env, kc, tc.kubeCtx)
		if got != tc.want || from != tc.wantFrom {
			t.Errorf("%s: got %q from %s, want %q from %s", tc.name, got, from, tc.want, tc.wantFrom)
		}
	}
	if got, from := ResolveNamespace("", false, "", filepath.Join(t.TempDir(), "none"), ""); got != contract.DefaultNamespace || from != NamespaceFromDefault {
		t.Errorf("missing kubeconfig: %q from %s", got, from)
	}
}

func TestValidateOutput(t *testing.T) {
	for _, tc := range []struct {
		action, output, want string
	}{
		{"status", "json", ""}, {"doctor", "yaml", ""}, {"deploy", "table", ""}, {"undeploy", "", ""},
		{"deploy", "json", "-o json only applies to --action status and --action doctor"},
		{"doctor", "wide", `-o "wide" is not one of table, json, yaml`},
	} {
		o := DefaultOptions()
		o.Action, o.Output = tc.action, tc.output
		err := o.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && (!IsUsage(err) || !strings.Contains(err.Error(), tc.want))) {
			t.Errorf("--action %s -o %q: %v, want %q", tc.action, tc.output, err, tc.want)
		}
	}
}

func TestStatusAndDoctorReportsEncode(t *testing.T) {
	last := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rel := &release.Release{Name: "r", Namespace: "ns", Version: 3,
		Chart: &chart.Chart{Metadata: &chart.Metadata{Name: "gpu-autoscaling", Version: "0.4.0", AppVersion: "1.0"}},
		Info:  &release.Info{Status: release.StatusDeployed, LastDeployed: helmtime.Time{Time: last}}}
	report := newStatusReport(rel, []deploy.APIServiceState{{Name: "v1beta1.custom.metrics.k8s.io", Reason: "MissingEndpoints", Message: "no endpoints"}},
		[]hpastatus.HPA{{Name: "h", Target: "Deployment/d", CurrentReplicas: 2, DesiredReplicas: 3, MinReplicas: 1, MaxReplicas: 5,
			Metrics:    []hpastatus.Metric{{Type: "Pods", Name: "gpu_utilization_percent", Current: "50", Target: "80 (avg)"}},
			Conditions: []hpastatus.Condition{{Type: "ScalingActive", Status: "True", Reason: "ValidMetricFound"}}}})
	var js bytes.Buffer
	if err := encode(&js, OutputJSON, report); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"revision": 3`, `"chartVersion": "0.4.0"`, `"status": "deployed"`, `"lastDeployed": "2026-01-02T03:04:05Z"`,
		`"available": false`, `"reason": "MissingEndpoints"`, `"desiredReplicas": 3`, `"name": "gpu_utilization_percent"`, `"type": "ScalingActive"`} {
		if !strings.Contains(js.String(), want) {
			t.Errorf("status JSON lacks %s:\n%s", want, js.String())
		}
	}
	var ym bytes.Buffer
	checks := []doctor.Check{{ID: "apiservice-available", Subject: "v1beta1", Status: doctor.Fail, Detail: "d", Fix: "f"}, {ID: "x", Status: doctor.Pass}}
	if err := encode(&ym, OutputYAML, doctor.NewReport(checks)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"- detail: d\n  fix: f\n  id: apiservice-available\n  status: FAIL\n  subject: v1beta1\n", "summary:\n  failed: 1\n  passed: 1\n  warnings: 0\n"} {
		if !strings.Contains(ym.String(), want) {
			t.Errorf("doctor YAML lacks %q:\n%s", want, ym.String())
		}
	}
	var empty bytes.Buffer
	if err := encode(&empty, OutputJSON, doctor.NewReport(nil)); err != nil || !strings.Contains(empty.String(), `"checks": []`) {
		t.Errorf("an empty report should list no checks, not null: %s %v", empty.String(), err)
	}
}
