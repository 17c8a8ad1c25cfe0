package e2e

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/hpastatus"
	"github.com/medical-kg/gpu-autoscaling/internal/loadmodel"
)

// loadStep is the closed loop's scale-up load for each service.
type loadStep struct {
	service string
	demand  loadmodel.Demand
	// want computes the expected replicas from the HPA and running pods.
	want int
}

// loop state shared between the closed-loop steps.
var (
	trackersMu sync.Mutex
	trackers   = map[string]*replicaTracker{}
	upSteps    []loadStep
)

// scaleUpSteps derives each service's demand from its HPA targets so that
// the expected replica count follows from the metric each test is about.
func scaleUpSteps(t *testing.T) []loadStep {
	t.Helper()
	cs := adminClient(t)
	ctx := context.Background()
	var steps []loadStep
	get := func(svc string) (*autoscalingv2.HorizontalPodAutoscaler, error) { return getHPA(ctx, cs, svc) }
	// podsStep loads a service with `worth` pods' worth of its Pods metric's
	// target; set puts that total into the right field of the demand.
	podsStep := func(svc, metric string, worth float64, set func(d *loadmodel.Demand, total float64)) loadStep {
		t.Helper()
		h, err := get(svc)
		if err != nil {
			t.Fatal(err)
		}
		target := podsTarget(t, h, metric)
		d := loadmodel.Demand{RequestsPerSecond: worth * loadmodel.RequestsPerPod}
		set(&d, worth*target)
		return loadStep{svc, d, loadmodel.DesiredReplicas(worth*target, target, int(*h.Spec.MinReplicas), int(h.Spec.MaxReplicas))}
	}
	steps = append(steps,
		// embedding: GPU utilization, 5 pods' worth at the target.
		podsStep(svcEmbedding, "gpu_utilization_percent", 5, func(d *loadmodel.Demand, v float64) { d.GPUUtilization = v }),
		// reranking: its own request rate alone (values/sandbox.yaml gives it a
		// requestsPerSecond target beside GPU utilization), 3.75 pods' worth → 4;
		// its GPUs stay idle, so only the request path can scale it.
		podsStep(svcReranking, contract.RequestRateMetric, 3.75, func(d *loadmodel.Demand, v float64) { d.RequestsPerSecond = v }),
		// docling-vlm: GPU memory, 4.5 pods' worth, more than its maxReplicas
		// of 4 in values/sandbox.yaml → 4, pinned at the maximum (the
		// HPAAtMaxReplicas alert must fire); utilization stays low.
		podsStep(svcDocling, "gpu_memory_usage_mb", 4.5, func(d *loadmodel.Demand, v float64) { d.GPUMemoryMB, d.GPUUtilization = v, 40 }),
	)
	// gpu-management: cpu (Resource metric through metrics-server), 3.5
	// pods' worth of the cpu target → 4; memory at 30 % of requests at 4 pods.
	mg, err := get(svcManagement)
	if err != nil {
		t.Fatal(err)
	}
	pods, err := runningPods(ctx, cs, svcManagement)
	if err != nil || len(pods) == 0 {
		t.Fatalf("%s: no running pods (%v)", svcManagement, err)
	}
	cpuReq := pods[0].Spec.Containers[0].Resources.Requests.Cpu().MilliValue()
	memReq := pods[0].Spec.Containers[0].Resources.Requests.Memory().Value()
	cpuTarget := resourceTarget(t, mg, corev1.ResourceCPU)
	if cpuReq == 0 || cpuTarget == 0 {
		t.Fatalf("%s: cpu request %dm, HPA cpu target %v%%: both are needed", svcManagement, cpuReq, cpuTarget)
	}
	perPodTarget := float64(cpuReq) * cpuTarget / 100
	wantMg := loadmodel.DesiredReplicas(3.5*perPodTarget, perPodTarget, int(*mg.Spec.MinReplicas), int(mg.Spec.MaxReplicas))
	steps = append(steps, loadStep{svcManagement, loadmodel.Demand{CPUMillicores: 3.5 * perPodTarget,
		MemoryMiB: float64(wantMg) * float64(memReq) / (1 << 20) * 0.30, RequestsPerSecond: 3.5 * loadmodel.RequestsPerPod}, wantMg})
	return steps
}

func tracker(cs *kubernetes.Clientset, svc string) *replicaTracker {
	trackersMu.Lock()
	defer trackersMu.Unlock()
	if trackers[svc] == nil {
		trackers[svc] = trackReplicas(cs, svc)
	}
	return trackers[svc]
}

func testClosedLoopUp(t *testing.T) {
	cs := adminClient(t)
	ctx := context.Background()
	upSteps = scaleUpSteps(t)
	for _, st := range upSteps {
		tracker(cs, st.service).mark(ctx, cs)
		env.plane.SetDemand(st.service, st.demand)
		t.Logf("load step: %s demand %+v → want %d replicas", st.service, st.demand, st.want)
	}
	stepAt := time.Now()
	var wg sync.WaitGroup
	for _, st := range upSteps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reached := waitReplicas(t, cs, st.service, st.want, 4*time.Minute)
			rt := tracker(cs, st.service)
			if reached {
				window := time.Duration(0)
				if h, err := getHPA(ctx, cs, st.service); err == nil {
					window = scaleUpWindow(h)
				}
				path, total := rt.metricLatency(), rt.latency()
				t.Logf("figure: %s scaled to %d in %s; load step → the HPA's metrics ask for more pods %s (metric path; goal ≤ exporter %s + scrape %s + HPA sync %s = %s) → desiredReplicas change %s (the behavior's scale-up stabilization window %s added %s); history %s",
					st.service, st.want, time.Since(stepAt).Round(time.Second), path.Round(100*time.Millisecond),
					exporterInterval, scrapeInterval, hpaSyncPeriod, exporterInterval+scrapeInterval+hpaSyncPeriod,
					total.Round(100*time.Millisecond), window, (total - path).Round(100*time.Millisecond), rt)
			}
		}()
	}
	wg.Wait()
	for _, st := range upSteps {
		checkRatePolicy(t, cs, tracker(cs, st.service))
	}
	logMemory(t, "at the peak")
	// The memory Resource metric flows too: gpu-management's HPA reports the
	// memory utilization its pods' usage implies (30 % of requests).
	sizedFor := 0
	for _, st := range upSteps {
		if st.service == svcManagement {
			sizedFor = st.want
		}
	}
	eventually(t, 90*time.Second, 2*time.Second, "gpu-management memory utilization ≈ 30 %", func(ctx context.Context) (bool, string) {
		h, err := getHPA(ctx, cs, svcManagement)
		if err != nil {
			return false, err.Error()
		}
		for _, m := range h.Status.CurrentMetrics {
			if m.Resource != nil && m.Resource.Name == corev1.ResourceMemory && m.Resource.Current.AverageUtilization != nil {
				u := *m.Resource.Current.AverageUtilization
				// The demand is 30 % of the requests of the replicas the
				// CPU step wants; more replicas (CPU measured above what the
				// stand-ins were asked to burn) spread it thinner.
				return math.Abs(float64(u)-30) <= 3, fmt.Sprintf("memory utilization %d%% at %d replicas (the load is sized for %d)",
					u, h.Status.CurrentReplicas, sizedFor)
			}
		}
		return false, "no memory metric in status"
	})
}

// waitReplicas waits until the Deployment wants n replicas and n pods run.
func waitReplicas(t *testing.T, cs *kubernetes.Clientset, svc string, n int, timeout time.Duration) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	last := ""
	for {
		dep, err := cs.AppsV1().Deployments(namespace).Get(ctx, svc, metav1.GetOptions{})
		if err == nil && dep.Spec.Replicas != nil {
			pods, _ := runningPods(ctx, cs, svc)
			if int(*dep.Spec.Replicas) == n && len(pods) == n {
				tracker(cs, svc).sample(cs)
				return true
			}
			h, _ := getHPA(ctx, cs, svc)
			status := ""
			if h != nil {
				c, _ := hpastatus.FindCondition(h, autoscalingv2.ScalingActive)
				status = fmt.Sprintf("HPA desired %d, ScalingActive %s: %s", h.Status.DesiredReplicas, c.Reason, c.Message)
			}
			last = fmt.Sprintf("replicas %d, running %d; %s", *dep.Spec.Replicas, len(pods), status)
		} else if err != nil {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			t.Errorf("%s: want %d replicas within %s: %s (history %s)", svc, n, timeout, last, tracker(cs, svc))
			return false
		case <-time.After(time.Second):
		}
	}
}

func testClosedLoopDown(t *testing.T) {
	cs := adminClient(t)
	ctx := context.Background()
	if len(upSteps) == 0 {
		t.Skip("closed loop up did not run")
	}
	for _, st := range upSteps {
		tracker(cs, st.service).mark(ctx, cs)
		env.plane.SetDemand(st.service, loadmodel.Demand{})
	}
	stepAt := time.Now()
	var wg sync.WaitGroup
	for _, st := range upSteps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := getHPA(ctx, cs, st.service)
			if err != nil {
				t.Error(err)
				return
			}
			min := int(*h.Spec.MinReplicas)
			if waitReplicas(t, cs, st.service, min, 4*time.Minute) {
				rt := tracker(cs, st.service)
				path, total := rt.metricLatency(), rt.latency()
				t.Logf("figure: %s back to min %d in %s; load drop → the HPA's metrics ask for fewer pods %s (metric path) → desiredReplicas change %s (the scale-down stabilization window added %s); history %s",
					st.service, min, time.Since(stepAt).Round(time.Second), path.Round(100*time.Millisecond),
					total.Round(100*time.Millisecond), (total - path).Round(100*time.Millisecond), rt)
			}
		}()
	}
	wg.Wait()
	for _, st := range upSteps {
		checkRatePolicy(t, cs, tracker(cs, st.service))
	}
}
