package sandbox

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// kube-state-metrics may list and watch exactly the kinds it is asked to
// expose (a kind it cannot list makes it fail its readiness forever), and
// the sandbox Prometheus' pod job scrapes the port the annotations name.
func TestKubeStateMetricsObjects(t *testing.T) {
	o := kubeStateMetricsObjects("registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.15.0", "gpu-node-0")
	c := o.deployment.Spec.Template.Spec.Containers[0]
	var kinds []string
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--resources="); ok {
			kinds = strings.Split(v, ",")
		}
	}
	var granted []string
	for _, r := range o.role.Rules {
		if !slices.Equal(r.Verbs, []string{"list", "watch"}) {
			t.Errorf("rule %v: verbs %v, want list and watch only", r.Resources, r.Verbs)
		}
		granted = append(granted, r.Resources...)
	}
	for _, want := range []string{"deployments", "horizontalpodautoscalers", "pods", "replicasets"} {
		if !slices.Contains(kinds, want) {
			t.Errorf("--resources %v lacks %s (the dashboards and kube_pod_owner need it)", kinds, want)
		}
	}
	if !slices.Equal(kinds, granted) {
		t.Errorf("--resources %v, ClusterRole grants %v: they must match", kinds, granted)
	}
	ann := o.deployment.Spec.Template.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != "8080" {
		t.Errorf("scrape annotations %v, want scrape=true on port 8080 (the pod job)", ann)
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.ContainerPort == 8080 }) {
		t.Errorf("container ports %v lack the annotated 8080", c.Ports)
	}
	if got := o.deployment.Spec.Template.Spec.NodeSelector["kubernetes.io/hostname"]; got != "gpu-node-0" {
		t.Errorf("nodeSelector hostname %q, want the real node (kwok's nodes run nothing)", got)
	}
	if s := o.binding.Subjects[0]; s.Name != o.serviceAccount.Name || s.Namespace != o.serviceAccount.Namespace ||
		o.deployment.Spec.Template.Spec.ServiceAccountName != o.serviceAccount.Name {
		t.Errorf("binding subject %+v, pod service account %q: want the ServiceAccount %s/%s", s,
			o.deployment.Spec.Template.Spec.ServiceAccountName, o.serviceAccount.Namespace, o.serviceAccount.Name)
	}
}
