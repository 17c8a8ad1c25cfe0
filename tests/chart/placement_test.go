package chart_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// gpuNode is a node carrying only the given labels (plus the ones every node has).
func gpuNode(name string, labels map[string]string) *corev1.Node {
	l := map[string]string{"kubernetes.io/os": "linux", "kubernetes.io/hostname": name}
	for k, v := range labels {
		l[k] = v
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
}

// schedulable says whether the scheduler's own node-affinity and nodeSelector check admits the
// DaemonSet's pods on the node.
func schedulable(t *testing.T, ds *appsv1.DaemonSet, node *corev1.Node) bool {
	t.Helper()
	pod := &corev1.Pod{Spec: ds.Spec.Template.Spec}
	ok, err := nodeaffinity.GetRequiredNodeAffinity(pod).Match(node)
	require.NoError(t, err)
	return ok
}

func exporterDaemonSet(t *testing.T, values string) *appsv1.DaemonSet {
	t.Helper()
	return one(t, typedOf[*appsv1.DaemonSet](decodeAll(t, render(t, renderRequest{values: values}))), "exporter DaemonSet")
}

// The exporter lands on a GPU node whichever platform labelled it, and on no other node.
func TestExporterFindsGPUNodesOfEveryPlatform(t *testing.T) {
	t.Parallel()
	ds := exporterDaemonSet(t, "")
	for platform, labels := range map[string]map[string]string{
		"GPU Operator / GPU feature discovery": {"nvidia.com/gpu.present": "true"},
		"GKE GPU node pool":                    {"cloud.google.com/gke-accelerator": "nvidia-tesla-a100"},
		"EKS node group (cluster-autoscaler)":  {"k8s.amazonaws.com/accelerator": "nvidia-tesla-t4"},
		"EKS Auto Mode":                        {"eks.amazonaws.com/instance-gpu-manufacturer": "nvidia"},
		"Karpenter on AWS":                     {"karpenter.k8s.aws/instance-gpu-manufacturer": "nvidia"},
		"AKS GPU node pool":                    {"kubernetes.azure.com/accelerator": "nvidia"},
	} {
		assert.True(t, schedulable(t, ds, gpuNode("gpu-node", labels)), "%s: %v", platform, labels)
	}
	for what, labels := range map[string]map[string]string{
		"a CPU node":                        {},
		"GPU feature discovery says false":  {"nvidia.com/gpu.present": "false"},
		"an AMD accelerator on EKS Auto":    {"eks.amazonaws.com/instance-gpu-manufacturer": "amd"},
		"a label of the wrong case on AKS":  {"kubernetes.azure.com/accelerator": "NVIDIA"},
		"an unrelated accelerator-ish name": {"accelerator": "nvidia"},
	} {
		assert.False(t, schedulable(t, ds, gpuNode("cpu-node", labels)), "%s: %v", what, labels)
	}
}

func TestExporterPlacementOverrides(t *testing.T) {
	t.Parallel()
	t.Run("nodeSelector is ANDed with the GPU labels", func(t *testing.T) {
		t.Parallel()
		ds := exporterDaemonSet(t, "exporter:\n  nodeSelector:\n    pool: inference\n")
		assert.True(t, schedulable(t, ds, gpuNode("a", map[string]string{"pool": "inference", "nvidia.com/gpu.present": "true"})))
		assert.False(t, schedulable(t, ds, gpuNode("b", map[string]string{"pool": "training", "nvidia.com/gpu.present": "true"})))
		assert.False(t, schedulable(t, ds, gpuNode("c", map[string]string{"pool": "inference"})))
	})
	t.Run("own labels replace the defaults", func(t *testing.T) {
		t.Parallel()
		ds := exporterDaemonSet(t, "exporter:\n  gpuNodeAffinity:\n    - {key: example.com/gpu, operator: Exists}\n")
		assert.True(t, schedulable(t, ds, gpuNode("a", map[string]string{"example.com/gpu": ""})))
		assert.False(t, schedulable(t, ds, gpuNode("b", map[string]string{"nvidia.com/gpu.present": "true"})))
	})
	t.Run("no affinity: the user's own required node affinity", func(t *testing.T) {
		t.Parallel()
		ds := exporterDaemonSet(t, "exporter:\n  gpuNodeAffinity: []\n  affinity:\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n"+
			"        nodeSelectorTerms:\n          - matchExpressions: [{key: pool, operator: In, values: [gpu]}]\n")
		assert.True(t, schedulable(t, ds, gpuNode("a", map[string]string{"pool": "gpu"})))
		assert.False(t, schedulable(t, ds, gpuNode("b", map[string]string{"nvidia.com/gpu.present": "true"})))
	})
	t.Run("preferred node affinity and pod anti-affinity are kept", func(t *testing.T) {
		t.Parallel()
		ds := exporterDaemonSet(t, "exporter:\n  affinity:\n    nodeAffinity:\n      preferredDuringSchedulingIgnoredDuringExecution:\n"+
			"        - weight: 10\n          preference:\n            matchExpressions: [{key: zone, operator: In, values: [a]}]\n"+
			"    podAntiAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        - topologyKey: kubernetes.io/hostname\n          labelSelector: {matchLabels: {app: x}}\n")
		a := ds.Spec.Template.Spec.Affinity
		require.NotNil(t, a)
		require.Len(t, a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution, 1)
		assert.Equal(t, int32(10), a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].Weight)
		require.NotNil(t, a.PodAntiAffinity)
		assert.Len(t, a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms, 6, "one term per default GPU label")
	})
}

// With exporter.namespaceOverride the exporter and what follows it (its NetworkPolicy, the ServiceMonitor's
// namespaceSelector) move; the adapter, HPAs and dashboards stay in the release namespace.
func TestExporterInItsOwnNamespace(t *testing.T) {
	t.Parallel()
	const exporterNs = "gpu-monitoring"
	objects := decodeAll(t, render(t, renderRequest{
		values:    "exporter:\n  namespaceOverride: " + exporterNs + "\n  serviceMonitor:\n    enabled: true\n",
		extraArgs: monitoringAPIs,
	}))
	exporterKinds := map[string]bool{}
	for _, o := range objects {
		isExporter := o.labels["app.kubernetes.io/component"] == "exporter"
		switch {
		case o.kind == "NetworkPolicy":
			np := o.obj.(*networkingv1.NetworkPolicy)
			if np.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] == "gpu-metrics-exporter" {
				assert.Equal(t, exporterNs, o.ns, "the exporter's NetworkPolicy must live beside its pods")
				exporterKinds["NetworkPolicy"] = true
			} else {
				assert.Equal(t, namespace, o.ns, o.name)
			}
		case isExporter && o.ns != "":
			assert.Equal(t, exporterNs, o.ns, "%s %s", o.kind, o.name)
			exporterKinds[o.kind] = true
		case o.ns != "" && o.ns != "kube-system": // the adapter's auth-reader RoleBinding lives in kube-system
			assert.Equal(t, namespace, o.ns, "%s %s stays in the release namespace", o.kind, o.name)
		}
	}
	for _, k := range []string{"DaemonSet", "Service", "ServiceAccount", "ServiceMonitor", "NetworkPolicy"} {
		assert.True(t, exporterKinds[k], "%s of the exporter rendered in %s", k, exporterNs)
	}
	sm := one(t, byKind(objects, "ServiceMonitor"), "ServiceMonitor").obj.(*unstructured.Unstructured)
	names, _, err := unstructured.NestedStringSlice(sm.Object, "spec", "namespaceSelector", "matchNames")
	require.NoError(t, err)
	assert.Equal(t, []string{exporterNs}, names)

	notes := renderNotes(t, map[string]any{"exporter": map[string]any{"namespaceOverride": exporterNs}})
	assert.Contains(t, notes, "kubectl -n gpu-monitoring get pods -l app.kubernetes.io/component=exporter")
	assert.Contains(t, notes, "kubectl label namespace gpu-monitoring pod-security.kubernetes.io/enforce=privileged")
	assert.NotContains(t, renderNotes(t, nil), "pod-security.kubernetes.io/enforce", "no Pod Security hint when the exporter shares the release namespace")
}
