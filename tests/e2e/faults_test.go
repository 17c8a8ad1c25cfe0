package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/hpastatus"
)

// componentPods lists the Running pods of one component of a release.
func componentPods(ctx context.Context, cs kubernetes.Interface, release, component string) ([]corev1.Pod, error) {
	// Every namespace: the exporter and the device plugin run in one of their own (exporterNamespace).
	list, err := cs.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		LabelSelector: contract.ComponentLabel + "=" + component + "," + contract.InstanceLabel + "=" + release})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			out = append(out, p)
		}
	}
	return out, nil
}

// crashLoop kills the adapter's container every time it runs again, as a
// crash-looping adapter would, until ctx ends.
func crashLoop(ctx context.Context, t *testing.T, cs kubernetes.Interface) <-chan int {
	kills := make(chan int, 1)
	go func() {
		n := 0
		defer func() { kills <- n }()
		for ctx.Err() == nil {
			pods, err := componentPods(ctx, cs, env.plane.Options().Release, "adapter")
			for _, p := range pods {
				if err == nil && len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].State.Running != nil {
					if kerr := env.cluster.KillContainer(ctx, namespace, p.Name, p.Spec.Containers[0].Name); kerr == nil {
						n++
					} else if ctx.Err() == nil {
						t.Logf("kill the adapter container: %v", kerr)
					}
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	return kills
}

// testAdapterFault: with the adapter crash-looping, custom metrics become
// unavailable and the HPA says it cannot read its GPU metric, but it keeps
// its replicas (no scale to min on cpu/memory alone) past the scale-down
// window; when the adapter stays up again, the APIServices and the HPA
// recover.
func testAdapterFault(t *testing.T) {
	cs := adminClient(t)
	ctx := context.Background()
	dep, err := cs.AppsV1().Deployments(namespace).Get(ctx, svcEmbedding, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before := *dep.Spec.Replicas
	h, err := getHPA(ctx, cs, svcEmbedding)
	if err != nil {
		t.Fatal(err)
	}
	hold := 4 * hpaSyncPeriod
	if b := h.Spec.Behavior; b != nil && b.ScaleDown != nil && b.ScaleDown.StabilizationWindowSeconds != nil {
		hold = max(hold, time.Duration(*b.ScaleDown.StabilizationWindowSeconds)*time.Second+2*hpaSyncPeriod)
	}
	faultCtx, stopFault := context.WithCancel(ctx)
	kills := crashLoop(faultCtx, t, cs)
	killedAt := time.Now()
	eventually(t, 90*time.Second, time.Second, apiServices[0]+" unavailable", func(ctx context.Context) (bool, string) {
		ok, err := apiServiceAvailable(ctx, apiServices[0])
		return !ok, fmt.Sprint(err)
	})
	t.Logf("figure: adapter crash-looping → APIService unavailable in %s", time.Since(killedAt).Round(100*time.Millisecond))
	eventually(t, 60*time.Second, time.Second, "embedding HPA reports it cannot get its GPU metric", func(ctx context.Context) (bool, string) {
		h, err := getHPA(ctx, cs, svcEmbedding)
		if err != nil {
			return false, err.Error()
		}
		c, _ := hpastatus.FindCondition(h, autoscalingv2.ScalingActive)
		return c.Status == corev1.ConditionFalse && strings.Contains(c.Reason, "Failed"), fmt.Sprintf("ScalingActive %s %s: %s", c.Status, c.Reason, c.Message)
	})
	t.Logf("holding %s (scale-down window + 2 sync periods) with the adapter crash-looping", hold)
	// The outage must also page: CustomMetricsAPIUnavailable (pending 30s in
	// values/sandbox.yaml) fires while it lasts.
	var alertFiredAt time.Time
	deadline := time.Now().Add(hold)
	for time.Now().Before(deadline) || alertFiredAt.IsZero() && time.Since(killedAt) < hold+2*time.Minute {
		dep, err := cs.AppsV1().Deployments(namespace).Get(ctx, svcEmbedding, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *dep.Spec.Replicas != before {
			stopFault()
			t.Fatalf("embedding replicas changed %d → %d while custom metrics were unavailable", before, *dep.Spec.Replicas)
		}
		if alertFiredAt.IsZero() {
			if firing, err := firingAlerts(ctx, t, "CustomMetricsAPIUnavailable", "name"); err != nil {
				t.Log(err)
			} else if slices.Contains(firing, apiServices[0]) {
				alertFiredAt = time.Now()
				t.Logf("figure: adapter crash-looping → CustomMetricsAPIUnavailable firing for %v in %s", firing, alertFiredAt.Sub(killedAt).Round(time.Second))
			}
		}
		time.Sleep(time.Second)
	}
	stopFault()
	if alertFiredAt.IsZero() {
		t.Errorf("CustomMetricsAPIUnavailable did not fire for %s within %s of the adapter crash-looping", apiServices[0], time.Since(killedAt).Round(time.Second))
	}
	t.Logf("adapter container killed %d times", <-kills)
	recoverCtx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	if err := env.plane.WaitAPIServices(recoverCtx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, time.Second, "embedding HPA active again", func(ctx context.Context) (bool, string) {
		h, err := getHPA(ctx, cs, svcEmbedding)
		if err != nil {
			return false, err.Error()
		}
		c, _ := hpastatus.FindCondition(h, autoscalingv2.ScalingActive)
		return c.Status == corev1.ConditionTrue, fmt.Sprintf("ScalingActive %s %s: %s", c.Status, c.Reason, c.Message)
	})
	t.Logf("figure: adapter back (kubelet back-off included) → HPA active again %s after the first kill", time.Since(killedAt).Round(time.Second))
	eventually(t, time.Minute, 5*time.Second, "CustomMetricsAPIUnavailable resolved", func(ctx context.Context) (bool, string) {
		firing, err := firingAlerts(ctx, t, "CustomMetricsAPIUnavailable", "name")
		if err != nil {
			return false, err.Error()
		}
		return len(firing) == 0, fmt.Sprintf("still firing for %v", firing)
	})
}

// gpuSeries counts a node's GPU utilization series.
func gpuSeries(ctx context.Context, node string) (int, error) {
	v, err := promQuery(ctx, fmt.Sprintf(`count(gpu_utilization_percent{node=%q})`, node))
	if err != nil || len(v) == 0 {
		return 0, err
	}
	return int(v[0].Value), nil
}

// testExporterFault kills the exporter's container on a GPU node: the
// kubelet restarts it, and the node's GPU series are fresh again.
func testExporterFault(t *testing.T) {
	cs := adminClient(t)
	ctx := context.Background()
	pods, err := componentPods(ctx, cs, env.plane.Options().Release, "exporter")
	if err != nil || len(pods) == 0 {
		t.Fatalf("exporter pods: %d, %v", len(pods), err)
	}
	victim := pods[0]
	node := victim.Spec.NodeName
	restarts := victim.Status.ContainerStatuses[0].RestartCount
	want, err := gpuSeries(ctx, node)
	if err != nil || want == 0 {
		t.Fatalf("GPU series of %s before the fault: %d, %v", node, want, err)
	}
	if err := env.cluster.KillContainer(ctx, victim.Namespace, victim.Name, victim.Spec.Containers[0].Name); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	eventually(t, 90*time.Second, 250*time.Millisecond, "exporter on "+node+" restarted and Ready", func(ctx context.Context) (bool, string) {
		now, err := componentPods(ctx, cs, env.plane.Options().Release, "exporter")
		if err != nil {
			return false, err.Error()
		}
		for _, p := range now {
			if p.Spec.NodeName == node && (p.Name != victim.Name || p.Status.ContainerStatuses[0].RestartCount > restarts) && podIsReady(&p) {
				return true, ""
			}
		}
		return false, "not restarted yet"
	})
	t.Logf("figure: exporter container killed → restarted and Ready %s", time.Since(killedAt).Round(100*time.Millisecond))
	eventually(t, 60*time.Second, time.Second, "GPU series of "+node+" back", func(ctx context.Context) (bool, string) {
		v, err := promQuery(ctx, fmt.Sprintf(`count(timestamp(gpu_utilization_percent{node=%q}) > time() - %d)`, node, int(2*scrapeInterval.Seconds())))
		got := 0
		if err == nil && len(v) > 0 {
			got = int(v[0].Value)
		}
		return got == want, fmt.Sprintf("%d fresh series, want %d (%v)", got, want, err)
	})
	t.Logf("figure: exporter container killed → its node's series fresh again %s", time.Since(killedAt).Round(100*time.Millisecond))
}

func podIsReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// attributedUUIDs maps each attributed service pod to its GPUs' UUIDs.
func attributedUUIDs(ctx context.Context) (map[string]string, error) {
	v, err := promQuery(ctx, fmt.Sprintf(`gpu_memory_total_mb{namespace=%q, pod=~"(%s)-.*"}`, namespace, strings.Join(services, "|")))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, s := range v {
		out[string(s.Metric["pod"])] += string(s.Metric["uuid"]) + " "
	}
	return out, nil
}

// testDevicePluginRestart deletes the device plugin's pod: its DaemonSet
// brings it back, it registers with the kubelet again, the node's GPU
// capacity returns, and the GPUs the running pods hold stay theirs (the
// kubelet keeps allocations in its checkpoint).
func testDevicePluginRestart(t *testing.T) {
	cs := adminClient(t)
	ctx := context.Background()
	release := env.plane.Options().WorkloadsRelease
	plugins, err := componentPods(ctx, cs, release, "device-plugin")
	if err != nil || len(plugins) == 0 {
		t.Skipf("no fake device plugin in release %s (%v): the cluster's own device plugin is not ours to restart", release, err)
	}
	before, err := attributedUUIDs(ctx)
	if err != nil || len(before) == 0 {
		t.Fatalf("attributed GPUs before: %v, %v", before, err)
	}
	victim := plugins[0]
	node, err := cs.CoreV1().Nodes().Get(ctx, victim.Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	capacity := node.Status.Capacity[contract.GPUResource]
	if err := cs.CoreV1().Pods(victim.Namespace).Delete(ctx, victim.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deletedAt := time.Now()
	eventually(t, 2*time.Minute, time.Second, "device plugin back and the node's GPUs allocatable", func(ctx context.Context) (bool, string) {
		now, err := componentPods(ctx, cs, release, "device-plugin")
		if err != nil {
			return false, err.Error()
		}
		back := false
		for _, p := range now {
			back = back || (p.Name != victim.Name && p.Spec.NodeName == victim.Spec.NodeName && podIsReady(&p))
		}
		n, err := cs.CoreV1().Nodes().Get(ctx, victim.Spec.NodeName, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		got := n.Status.Capacity[contract.GPUResource]
		return back && got.Cmp(capacity) == 0, fmt.Sprintf("plugin back %t, capacity %s (want %s)", back, got.String(), capacity.String())
	})
	t.Logf("figure: device plugin pod deleted → back and GPUs allocatable again %s", time.Since(deletedAt).Round(time.Second))
	time.Sleep(exporterInterval + scrapeInterval)
	after, err := attributedUUIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for pod, uuids := range before {
		if _, err := cs.CoreV1().Pods(namespace).Get(ctx, pod, metav1.GetOptions{}); err != nil {
			continue // scaled away meanwhile
		}
		if after[pod] != uuids {
			t.Errorf("pod %s: GPUs %q before the device plugin restart, %q after", pod, uuids, after[pod])
		}
	}
}
