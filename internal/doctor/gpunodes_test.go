package doctor

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
)

// without removes the kube objects f matches.
func (w *world) without(f func(runtime.Object) bool) {
	kept := w.kubeObjects[:0]
	for _, o := range w.kubeObjects {
		if !f(o) {
			kept = append(kept, o)
		}
	}
	w.kubeObjects = kept
}

// cloudGPUNode reports GPU capacity and carries only the given labels.
func cloudGPUNode(name string, labels map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{Capacity: corev1.ResourceList{contract.GPUResource: resource.MustParse("4")}}}
}

// A GPU node is one that reports nvidia.com/gpu capacity, whatever its labels: a node the DaemonSet's
// affinity misses is named, with the reason.
func TestGPUNodeWithoutAMatchingLabelIsNamed(t *testing.T) {
	w := healthyWorld()
	w.noPrometheus = true
	w.replace(cloudGPUNode("aks-gpu-0", map[string]string{"kubernetes.azure.com/accelerator": "nvidia"}))
	expectCheck(t, w.run(t), idExporterCoverage, "3 GPU nodes", Fail,
		"aks-gpu-0 (DaemonSet medical-kg/gpu-autoscaling-gpu-metrics-exporter does not select it: its labels match neither the nodeSelector nor any node affinity term (exporter.gpuNodeAffinity))",
		"exporter.gpuNodeAffinity")
}

// A node with only a cloud label the affinity lists, and an exporter pod there, is covered.
func TestGPUNodeWithOnlyACloudLabelIsCovered(t *testing.T) {
	w := healthyWorld()
	w.noPrometheus = true
	w.replace(cloudGPUNode("gke-gpu-0", map[string]string{"cloud.google.com/gke-accelerator": "nvidia-tesla-a100"}))
	w.replace(exporterPod("exporter-2", "gke-gpu-0"))
	expectCheck(t, w.run(t), idExporterCoverage, "3 GPU nodes", Pass, "gke-gpu-0 (pod exporter-2)", "")
}

func TestGPUNodeWithAnUntoleratedTaint(t *testing.T) {
	w := healthyWorld()
	w.noPrometheus = true
	w.replace(cloudGPUNode("gke-gpu-1", map[string]string{"cloud.google.com/gke-accelerator": "nvidia-l4"},
		corev1.Taint{Key: "dedicated", Value: "inference", Effect: corev1.TaintEffectNoSchedule}))
	expectCheck(t, w.run(t), idExporterCoverage, "3 GPU nodes", Fail,
		"gke-gpu-1 (DaemonSet medical-kg/gpu-autoscaling-gpu-metrics-exporter does not tolerate its taint dedicated=inference:NoSchedule (exporter.tolerations))", "")
}

// MIG capacity alone makes a GPU node; a node without GPU capacity needs no exporter, and a label selector adds nodes.
func TestGPUNodesByCapacityAndSelector(t *testing.T) {
	w := healthyWorld()
	w.noPrometheus = true
	mig := cloudGPUNode("mig-node", map[string]string{"nvidia.com/gpu.present": "true"})
	mig.Status.Capacity = corev1.ResourceList{"nvidia.com/mig-1g.10gb": resource.MustParse("7")}
	w.replace(mig)
	expectCheck(t, w.run(t), idExporterCoverage, "3 GPU nodes", Fail, "mig-node (DaemonSet medical-kg/gpu-autoscaling-gpu-metrics-exporter selects it but has no pod there", "")

	w = healthyWorld()
	w.noPrometheus = true
	w.replace(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "new-gpu-node", Labels: map[string]string{"pool": "gpu"}}})
	expectCheck(t, w.run(t), idExporterCoverage, "2 GPU nodes", Pass, "", "")
	w.gpuNodeSelector = "pool=gpu"
	expectCheck(t, w.run(t), idExporterCoverage, "3 GPU nodes", Fail, "new-gpu-node (DaemonSet medical-kg/gpu-autoscaling-gpu-metrics-exporter does not select it", "")
}

func TestNoExporterDaemonSet(t *testing.T) {
	w := healthyWorld()
	w.noPrometheus = true
	w.without(func(o runtime.Object) bool {
		_, ds := o.(*appsv1.DaemonSet)
		p, pod := o.(*corev1.Pod)
		return ds || (pod && p.Labels["app.kubernetes.io/component"] == "exporter")
	})
	expectCheck(t, w.run(t), idExporterCoverage, "2 GPU nodes", Fail, "gpu-node-0 (no exporter DaemonSet of this release in any namespace)", "")
}

func TestNoGPUCapacityAnywhere(t *testing.T) {
	w := healthyWorld()
	w.noPrometheus = true
	for _, name := range []string{"gpu-node-0", "gpu-node-1"} {
		w.replace(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}})
	}
	expectCheck(t, w.run(t), idExporterCoverage, "GPU nodes", Warn, "no node reports nvidia.com/gpu capacity", "device plugin")
}

// The exporter in a namespace of its own: found there, and that namespace's Pod Security labels read.
func TestExporterInItsOwnNamespace(t *testing.T) {
	const exporterNs = "gpu-monitoring"
	for _, tc := range []struct {
		labels map[string]string
		status Status
		detail string
	}{
		{map[string]string{"pod-security.kubernetes.io/enforce": "privileged", "pod-security.kubernetes.io/warn": "baseline"}, Pass,
			"pod-security.kubernetes.io/enforce=privileged admits the exporter; pod-security.kubernetes.io/warn=baseline only warn or audit"},
		{map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}, Fail,
			`enforces Pod Security "restricted", which rejects the exporter's pods (hostPath volumes, runAsUser 0`},
		{map[string]string{"pod-security.kubernetes.io/enforce": "baseline"}, Fail, `enforces Pod Security "baseline"`},
		{map[string]string{"pod-security.kubernetes.io/enforce": "strict"}, Fail, `"strict" is not a Pod Security level`},
		{nil, Pass, "no pod-security.kubernetes.io/enforce label"},
	} {
		w := healthyWorld()
		w.noPrometheus = true
		w.without(func(o runtime.Object) bool { _, ds := o.(*appsv1.DaemonSet); return ds })
		w.replace(exporterDaemonSet(exporterNs))
		w.replace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: exporterNs, Labels: tc.labels}})
		for _, o := range w.kubeObjects {
			if p, ok := o.(*corev1.Pod); ok && p.Labels["app.kubernetes.io/component"] == "exporter" {
				p.Namespace = exporterNs
			}
		}
		checks := w.run(t)
		fix := ""
		if tc.status == Fail {
			fix = "kubectl label namespace gpu-monitoring pod-security.kubernetes.io/enforce=privileged --overwrite"
		}
		expectCheck(t, checks, idExporterPodSecurity, "namespace "+exporterNs, tc.status, tc.detail, fix)
		expectCheck(t, checks, idExporterCoverage, "2 GPU nodes", Pass, "gpu-node-0 (pod exporter-0)", "")
	}
}
