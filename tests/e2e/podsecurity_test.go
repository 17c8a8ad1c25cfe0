package e2e

import (
	"bytes"
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psapi "k8s.io/pod-security-admission/api"

	"github.com/medical-kg/gpu-autoscaling/internal/cluster"
	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/doctor"
)

// testPodSecurityAndCloudLabels: the release namespace enforces Pod Security
// restricted and really rejects what the exporter needs, while the exporter
// runs from its own privileged namespace on a GPU node that carries only a
// cloud platform's label (on the sandbox: GKE's, not the GPU Operator's);
// doctor finds it there, passes the namespace's Pod Security, and names the
// fix once the exporter namespace would reject it.
func testPodSecurityAndCloudLabels(t *testing.T) {
	cs := adminClient(t)
	ctx := context.Background()
	release := env.plane.Options().Release

	// Admission itself, not only a label: a hostPath pod is refused in the release namespace.
	ns, err := cs.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ns.Labels[psapi.EnforceLevelLabel]; got != string(psapi.LevelRestricted) {
		t.Fatalf("namespace %s: %s=%q, want restricted", namespace, psapi.EnforceLevelLabel, got)
	}
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "hostpath-probe"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "c", Image: "pause", VolumeMounts: []corev1.VolumeMount{{Name: "h", MountPath: "/h"}}}},
			Volumes:    []corev1.Volume{{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/kubelet"}}}},
		},
	}
	_, err = cs.CoreV1().Pods(namespace).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "restricted") {
		t.Fatalf("a hostPath pod in the restricted namespace %s: %v, want a Pod Security refusal", namespace, err)
	}

	// The exporter runs, from its own namespace, on every GPU node.
	exporters, err := componentPods(ctx, cs, release, "exporter")
	if err != nil || len(exporters) == 0 {
		t.Fatalf("exporter pods: %d, %v", len(exporters), err)
	}
	for _, p := range exporters {
		if p.Namespace != exporterNamespace {
			t.Errorf("exporter pod %s in namespace %s, want %s", p.Name, p.Namespace, exporterNamespace)
		}
	}
	if env.cluster.Name() == "sandbox" {
		node, err := cs.CoreV1().Nodes().Get(ctx, exporters[0].Spec.NodeName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := node.Labels[contract.GPUPresentLabel]; ok || node.Labels[contract.GKEAcceleratorLabel] != cloudGPULabelValue {
			t.Fatalf("node %s labels %v: want only %s=%s among the GPU labels", node.Name, node.Labels, contract.GKEAcceleratorLabel, cloudGPULabelValue)
		}
	}

	clients, err := cluster.Connect(ctx, cluster.Options{Kubeconfig: env.cluster.Kubeconfig()})
	if err != nil {
		t.Fatal(err)
	}
	run := func() []doctor.Check {
		t.Helper()
		checks, err := doctor.Run(ctx, doctor.Config{Namespace: namespace, Release: release,
			Kube: clients.Kube, Aggregator: clients.Aggregator, CustomMetrics: clients.CustomMetrics})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		_ = doctor.Render(&b, checks)
		t.Logf("doctor:\n%s", b.String())
		return checks
	}
	status := func(checks []doctor.Check, id string) (doctor.Status, string) {
		for _, c := range checks {
			if c.ID == id {
				return c.Status, c.Detail + " | " + c.Fix
			}
		}
		return "", "no " + id + " check"
	}
	checks := run()
	for _, id := range []string{"exporter-on-gpu-nodes", "exporter-pod-security"} {
		if st, detail := status(checks, id); st != doctor.Pass {
			t.Errorf("%s: %s, want PASS: %s", id, st, detail)
		}
	}

	// The exporter namespace turned baseline: doctor fails and says what to change (running pods stay).
	setEnforce := func(level psapi.Level) {
		t.Helper()
		n, err := cs.CoreV1().Namespaces().Get(ctx, exporterNamespace, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Labels[psapi.EnforceLevelLabel] = string(level)
		if _, err := cs.CoreV1().Namespaces().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	setEnforce(psapi.LevelBaseline)
	defer setEnforce(psapi.LevelPrivileged)
	st, detail := status(run(), "exporter-pod-security")
	if st != doctor.Fail || !strings.Contains(detail, `enforces Pod Security "baseline"`) ||
		!strings.Contains(detail, "kubectl label namespace "+exporterNamespace+" pod-security.kubernetes.io/enforce=privileged") {
		t.Errorf("exporter-pod-security with %s baseline: %s %s", exporterNamespace, st, detail)
	}
}
