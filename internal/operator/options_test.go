package operator

import "testing"

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
