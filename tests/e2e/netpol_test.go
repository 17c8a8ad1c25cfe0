package e2e

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
)

// testNetworkPolicySelectors: the sandbox's CNI (the bridge plugin) does not
// enforce NetworkPolicies, so what is checked here is that each policy of
// the release selects exactly the live pods it is written for (an exporter
// or adapter policy selecting nothing would protect nothing on a cluster
// that enforces it), and that the exporter's allows the monitoring
// namespace by the label Kubernetes itself sets.
func testNetworkPolicySelectors(t *testing.T) {
	cs := adminClient(t)
	ctx := context.Background()
	release := env.plane.Options().Release
	pols, err := cs.NetworkingV1().NetworkPolicies(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: contract.InstanceLabel + "=" + release})
	if err != nil {
		t.Fatal(err)
	}
	if len(pols.Items) == 0 {
		t.Fatal("the release rendered no NetworkPolicy (networkPolicy.enabled)")
	}
	if env.cluster.Name() == "sandbox" {
		t.Log("the sandbox's CNI bridge plugin does not enforce NetworkPolicies: their selectors are checked against the real pods instead")
	}
	for _, np := range pols.Items {
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil {
			t.Fatalf("NetworkPolicy %s: %v", np.Name, err)
		}
		component := np.Labels[contract.ComponentLabel]
		pods, err := cs.CoreV1().Pods(np.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			t.Fatal(err)
		}
		want, err := componentPods(ctx, cs, release, component)
		if err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) == 0 || len(pods.Items) != len(want) {
			t.Errorf("NetworkPolicy %s (component %q) selects %d pods, the release runs %d %s pods", np.Name, component, len(pods.Items), len(want), component)
		}
		for _, p := range pods.Items {
			if p.Labels[contract.ComponentLabel] != component {
				t.Errorf("NetworkPolicy %s selects pod %s of component %q", np.Name, p.Name, p.Labels[contract.ComponentLabel])
			}
		}
		if component != "exporter" {
			continue
		}
		byName := false
		for _, in := range np.Spec.Ingress {
			for _, peer := range in.From {
				if peer.NamespaceSelector != nil {
					s, _ := metav1.LabelSelectorAsSelector(peer.NamespaceSelector)
					byName = byName || s.Matches(labels.Set{"kubernetes.io/metadata.name": "monitoring"})
				}
			}
		}
		if !byName {
			t.Errorf("NetworkPolicy %s: no ingress peer admits the monitoring namespace by kubernetes.io/metadata.name", np.Name)
		}
	}
}
