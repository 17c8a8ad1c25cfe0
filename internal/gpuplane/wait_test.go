package gpuplane

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
)

func ptr[T any](v T) *T { return &v }

// A workload counts as ready only once its rollout is over, by kubectl
// rollout status's rules: an upgrade's surge pod beside the old one, or a
// spec change the controller has not observed, is still pending.
func TestNotReadyFollowsRollouts(t *testing.T) {
	labels := map[string]string{contract.InstanceLabel: "rel"}
	dep := func(name string, gen, observed int64, st appsv1.DeploymentStatus) *appsv1.Deployment {
		st.ObservedGeneration = observed
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: labels, Generation: gen},
			Spec: appsv1.DeploymentSpec{Replicas: ptr[int32](1)}, Status: st}
	}
	ds := func(name string, strategy appsv1.DaemonSetUpdateStrategyType, st appsv1.DaemonSetStatus) *appsv1.DaemonSet {
		st.ObservedGeneration = 1
		return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "mon", Labels: labels, Generation: 1},
			Spec: appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: strategy}}, Status: st}
	}
	cs := fake.NewClientset(
		dep("done", 2, 2, appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}),
		// The surge pod is updated, the old one still serves: not done.
		dep("surging", 2, 2, appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}),
		// Status from before the upgrade's spec change.
		dep("unobserved", 3, 2, appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}),
		ds("exporter", appsv1.RollingUpdateDaemonSetStrategyType, appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, UpdatedNumberScheduled: 1, NumberReady: 2, NumberAvailable: 2}),
		ds("plugin", appsv1.OnDeleteDaemonSetStrategyType, appsv1.DaemonSetStatus{DesiredNumberScheduled: 1, UpdatedNumberScheduled: 0, NumberReady: 1}),
		ds("nowhere", appsv1.RollingUpdateDaemonSetStrategyType, appsv1.DaemonSetStatus{}),
	)
	p := &Plane{cs: cs, opts: Options{Namespace: "ns"}}
	got, err := p.notReady(t.Context(), "rel")
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(got, "\n")
	for _, want := range []string{"Deployment surging 1/1 ready: 1 old replicas pending termination", "Deployment unobserved 1/1 ready: spec update not observed",
		"DaemonSet exporter 2/2 ready: 1 of 2 new pods updated", "DaemonSet nowhere 0/0 ready: no pod"} {
		if !strings.Contains(joined, want) {
			t.Errorf("pending lacks %q:\n%s", want, joined)
		}
	}
	for _, ready := range []string{"Deployment done", "DaemonSet plugin"} {
		if strings.Contains(joined, ready) {
			t.Errorf("%s is done but listed as pending:\n%s", ready, joined)
		}
	}
}
