package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/prereq"
)

// TestKwokOnlyUpStatusDown starts the control plane with two kwok nodes (no
// real node), checks what Up promises and that Down stops every process by
// PID; the cold start is logged.
func TestKwokOnlyUpStatusDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane; skipped with -short")
	}
	dir := filepath.Join(t.TempDir(), "sb")
	sb, err := New(Options{Dir: dir, KwokOnly: true, KwokNodes: 2, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Check(context.Background()); err != nil {
		prereq.SkipOrFail(t, err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	if err := sb.Up(ctx); err != nil {
		t.Fatalf("Up: %v", err)
	}
	t.Logf("figure: kwok-only sandbox cold start %s (binaries cached)", time.Since(start).Round(time.Millisecond))
	defer func() { _ = sb.Down(context.Background()) }()

	// A second Up on the same folder must refuse rather than start a twin.
	if twin, err := New(Options{Dir: dir, KwokOnly: true}); err == nil {
		if err := twin.Up(ctx); err == nil {
			t.Error("second Up in the same folder succeeded; want an 'already running' error")
		}
	}

	cs, err := sb.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: contract.GPUPresentLabel + "=true"})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 2 {
		t.Fatalf("got %d GPU nodes, want 2", len(nodes.Items))
	}
	for _, n := range nodes.Items {
		q := n.Status.Allocatable[contract.GPUResource]
		if q.Value() != 8 {
			t.Errorf("node %s allocatable %s = %s, want 8", n.Name, contract.GPUResource, q.String())
		}
		if !nodeReady(&n) {
			t.Errorf("node %s is not Ready", n.Name)
		}
	}

	checkGPUCapacity(t, ctx, sb)

	// Status from another "command": the state file alone.
	loaded, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := loaded.Status(ctx)
	if !st.APIReady || len(st.ReadyNodes) != 2 || !st.APIService["v1beta1.metrics.k8s.io"] {
		t.Errorf("status = %+v; want API ready, 2 ready nodes, metrics.k8s.io available", st)
	}
	for _, p := range st.Processes {
		if !p.Running {
			t.Errorf("process %s (pid %d) not running", p.Name, p.PID)
		}
	}
	if len(st.Processes) != 7 {
		t.Errorf("got %d processes, want 7 (etcd, apiserver, kcm, scheduler, kwok, metrics-server, prometheus)", len(st.Processes))
	}

	// Down through the loaded state (not the parent that started them).
	start = time.Now()
	if err := loaded.Down(ctx); err != nil {
		t.Fatalf("Down: %v", err)
	}
	t.Logf("figure: sandbox stop %s (parallel, by PID)", time.Since(start).Round(time.Millisecond))
	for _, p := range st.Processes {
		if pidAlive(p.PID, sb.process(p.Name).Binary) {
			t.Errorf("process %s (pid %d) still alive after Down", p.Name, p.PID)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "state.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state.json still present after Down (err %v)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "logs", "kube-apiserver.log")); err != nil {
		t.Errorf("logs not kept after Down: %v", err)
	}
}

// checkGPUCapacity schedules one more single-GPU pod than the nodes hold:
// the real scheduler must bind exactly capacity pods (kwok runs them, with
// IPs) and leave the last one Pending as Unschedulable.
func checkGPUCapacity(t *testing.T, ctx context.Context, sb *Sandbox) {
	t.Helper()
	cs, err := sb.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	capacity := sb.Options().KwokNodes * sb.Options().GPUsPerNode
	for i := 0; i <= capacity; i++ {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("gpu-%02d", i), Namespace: "default", Labels: map[string]string{"test": "gpu-capacity"}},
			Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10",
					Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{contract.GPUResource: resource.MustParse("1")}}}},
				Tolerations: []corev1.Toleration{{Key: KwokNodeAnnotation, Operator: corev1.TolerationOpEqual, Value: "fake",
					Effect: corev1.TaintEffectNoSchedule}},
				NodeSelector: map[string]string{contract.GPUPresentLabel: "true"},
			},
		}
		if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	var running, pending int
	for time.Now().Before(deadline) {
		pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "test=gpu-capacity"})
		if err != nil {
			t.Fatal(err)
		}
		running, pending = 0, 0
		for _, p := range pods.Items {
			switch {
			case p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "":
				running++
			case p.Status.Phase == corev1.PodPending && p.Spec.NodeName == "" && unschedulable(&p):
				pending++
			}
		}
		if running == capacity && pending == 1 {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Errorf("with %d GPUs: %d pods Running with an IP, %d Unschedulable; want %d and 1", capacity, running, pending, capacity)
}

func unschedulable(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return true
		}
	}
	return false
}
