package demo

import (
	"fmt"
	"math"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"

	"github.com/medical-kg/gpu-autoscaling/internal/hpastatus"
	"github.com/medical-kg/gpu-autoscaling/internal/loadmodel"
)

// DefaultTolerance is the HPA controller's default
// --horizontal-pod-autoscaler-tolerance: usage within 10 % of the target
// changes nothing.
const DefaultTolerance = 0.1

// Target is what a service's HPA asks of the metric the scenario drives,
// read from the live HPA (and, for cpu, the pods' requests).
type Target struct {
	Service string
	Driver  Driver
	// PerPod is the per-pod target in demand units: percent of a GPU, MB of
	// GPU memory, or CPU millicores (averageUtilization × the pod's request).
	PerPod float64
	// HPATarget is the target as the HPA states it: percent, MB, or the cpu
	// averageUtilization percent; HPAUnit names its unit.
	HPATarget float64
	HPAUnit   string
	Min, Max  int
	// Companion is demand added to every step so that the other metrics the
	// HPA watches look alive but stay below their targets at Min replicas:
	// docling-vlm's GPU utilization, the management service's memory.
	Companion loadmodel.Demand
	// Behavior is the HPA's behavior: the verdict checks the replica
	// timeline against its policies and stabilization windows (nil: not
	// checked).
	Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior
	// HPASyncPeriod is the controller's sync period: a move may come up to
	// one sync before its stabilization window has passed.
	HPASyncPeriod time.Duration
}

// TargetFromHPA reads a service's target for the driven metric from its HPA;
// pod is the Deployment's pod template spec (cpu and memory requests).
func TargetFromHPA(hpa *autoscalingv2.HorizontalPodAutoscaler, pod corev1.PodSpec, driver Driver) (Target, error) {
	t := Target{Service: hpa.Spec.ScaleTargetRef.Name, Driver: driver, Min: 1, Max: int(hpa.Spec.MaxReplicas), Behavior: hpa.Spec.Behavior}
	if hpa.Spec.MinReplicas != nil {
		t.Min = int(*hpa.Spec.MinReplicas)
	}
	switch driver {
	case GPUUtilization, GPUMemory:
		v, ok := hpastatus.PodsTarget(hpa, string(driver))
		if !ok {
			return t, fmt.Errorf("HPA %s has no Pods metric %s with an AverageValue target; the demo drives it (services.%s.targets in the values)",
				hpa.Name, driver, t.Service)
		}
		t.PerPod, t.HPATarget = v, v
		t.HPAUnit = "%"
		if driver == GPUMemory {
			t.HPAUnit = "MB"
			// The service also does some GPU work: 40 % of its utilization
			// target at min replicas, never enough to scale on.
			if u, ok := hpastatus.PodsTarget(hpa, string(GPUUtilization)); ok {
				t.Companion.GPUUtilization = 0.4 * u * float64(t.Min)
			}
		}
	case CPU:
		util, ok := hpastatus.ResourceTarget(hpa, corev1.ResourceCPU)
		if !ok {
			return t, fmt.Errorf("HPA %s has no Resource metric cpu with an averageUtilization target; the demo drives it", hpa.Name)
		}
		req := requests(pod, corev1.ResourceCPU)
		if req <= 0 {
			return t, fmt.Errorf("Deployment %s requests no cpu; a cpu utilization target needs requests", t.Service)
		}
		t.PerPod = float64(req) * util / 100
		t.HPATarget, t.HPAUnit = util, "%"
		// Memory at 30 % of requests at min replicas, below any sane target.
		if _, ok := hpastatus.ResourceTarget(hpa, corev1.ResourceMemory); ok {
			if mem := requests(pod, corev1.ResourceMemory); mem > 0 {
				t.Companion.MemoryMiB = 0.3 * float64(mem) / (1 << 20) * float64(t.Min)
			}
		}
	default:
		return t, fmt.Errorf("unknown driver %q", driver)
	}
	if t.PerPod <= 0 {
		return t, fmt.Errorf("HPA %s: target for %s is %v; want a positive target", hpa.Name, driver, t.PerPod)
	}
	if t.Max < t.Min {
		return t, fmt.Errorf("HPA %s: maxReplicas %d below minReplicas %d", hpa.Name, t.Max, t.Min)
	}
	return t, nil
}

// Demand is the load model's demand for a load in pods' worth.
func (t Target) Demand(load float64) loadmodel.Demand {
	d := t.Companion
	d.RequestsPerSecond += math.Max(0, load) * loadmodel.RequestsPerPod
	total := math.Max(0, load) * t.PerPod
	switch t.Driver {
	case GPUUtilization:
		d.GPUUtilization += total
	case GPUMemory:
		d.GPUMemoryMB += total
	case CPU:
		d.CPUMillicores += total
	}
	return d
}

// Total is the driven metric's total demand for a load, in demand units.
func (t Target) Total(load float64) float64 { return math.Max(0, load) * t.PerPod }

// Expected is the replica count the HPA should settle at for a load: the
// load model spreads the total evenly, so it is ceil(total / target),
// clamped to the HPA's bounds.
func (t Target) Expected(load float64) int {
	return loadmodel.DesiredReplicas(t.Total(load), t.PerPod, t.Min, t.Max)
}

// CheckTarget verifies that a service's scenario shows scaling on this HPA:
// the peak implies more than the base, the base brings it back to Min, and
// the HPA can actually climb to the peak's count. The last point is about the
// tolerance: one replica short, usage/target must exceed 1+tolerance or the
// controller stays put (4.4 pods' worth on 4 pods is a 1.1 ratio: no change).
func CheckTarget(l ServiceLoad, t Target, tolerance float64) error {
	peak, base := t.Expected(l.Peak), t.Expected(l.Base)
	if base != t.Min {
		return fmt.Errorf("%s: base load %v implies %d replicas, not the HPA's minimum %d; lower the base", l.Service, l.Base, base, t.Min)
	}
	if peak <= base {
		return fmt.Errorf("%s: peak load %v implies %d replicas, no more than the base's %d; raise the peak", l.Service, l.Peak, peak, base)
	}
	if ratio := l.Peak / float64(peak-1); ratio <= 1+tolerance {
		return fmt.Errorf("%s: peak load %v on %d replicas is a usage ratio of %.3f, inside the HPA tolerance %.2f: it would stop one replica short of %d; raise the peak a little",
			l.Service, l.Peak, peak-1, ratio, tolerance, peak)
	}
	return nil
}

// CurrentValue is the HPA's last reported value of the driven metric, in the
// HPA's units (per-pod average value, or cpu utilization percent).
func CurrentValue(hpa *autoscalingv2.HorizontalPodAutoscaler, driver Driver) (float64, bool) {
	v, ok := hpastatus.CurrentPods(hpa, string(driver))
	if driver == CPU {
		v, ok = hpastatus.CurrentUtilization(hpa, corev1.ResourceCPU)
	}
	if !ok {
		return math.NaN(), false
	}
	return v, true
}

// requests sums a resource's requests over the pod's containers (millicores
// for cpu, bytes otherwise).
func requests(pod corev1.PodSpec, name corev1.ResourceName) int64 {
	var sum int64
	for _, c := range pod.Containers {
		q, ok := c.Resources.Requests[name]
		if !ok {
			continue
		}
		if name == corev1.ResourceCPU {
			sum += q.MilliValue()
		} else {
			sum += q.Value()
		}
	}
	return sum
}
