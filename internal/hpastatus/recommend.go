package hpastatus

import (
	"math"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

// DefaultTolerance is the HPA controller's default
// --horizontal-pod-autoscaler-tolerance: a usage ratio within 10 % of 1
// leaves the replica count alone.
const DefaultTolerance = 0.1

// Recommendation is the replica count the metrics the HPA last reported ask
// for, before its behavior (stabilization windows, rate policies) applies:
// per metric, ceil(currentReplicas × current/target) unless the ratio is
// within tolerance of 1, the largest over the metrics, clamped to
// [minReplicas, maxReplicas]. It is the controller's rule on the status it
// wrote (the controller itself counts only ready pods, so during a rollout
// the two can differ by the unready ones). ok is false while the HPA
// reports no current value for any metric.
func Recommendation(h *autoscalingv2.HorizontalPodAutoscaler, tolerance float64) (replicas int32, ok bool) {
	current := h.Status.CurrentReplicas
	if current == 0 {
		return 0, false
	}
	for _, spec := range h.Spec.Metrics {
		target, found := specTarget(spec)
		if !found {
			continue
		}
		cur, found := findCurrent(h.Status.CurrentMetrics, spec)
		if !found {
			continue
		}
		ratio, found := usageRatio(cur, target)
		if !found {
			continue
		}
		want := current
		if math.Abs(ratio-1) > tolerance {
			want = int32(math.Ceil(ratio * float64(current)))
		}
		if !ok || want > replicas {
			replicas, ok = want, true
		}
	}
	if !ok {
		return 0, false
	}
	return min(max(replicas, MinReplicas(h)), h.Spec.MaxReplicas), true
}

// specTarget is a spec metric's target.
func specTarget(spec autoscalingv2.MetricSpec) (autoscalingv2.MetricTarget, bool) {
	switch {
	case spec.Type == autoscalingv2.ResourceMetricSourceType && spec.Resource != nil:
		return spec.Resource.Target, true
	case spec.Type == autoscalingv2.ContainerResourceMetricSourceType && spec.ContainerResource != nil:
		return spec.ContainerResource.Target, true
	case spec.Type == autoscalingv2.PodsMetricSourceType && spec.Pods != nil:
		return spec.Pods.Target, true
	case spec.Type == autoscalingv2.ObjectMetricSourceType && spec.Object != nil:
		return spec.Object.Target, true
	case spec.Type == autoscalingv2.ExternalMetricSourceType && spec.External != nil:
		return spec.External.Target, true
	}
	return autoscalingv2.MetricTarget{}, false
}

// usageRatio is current over target in the target's own terms.
func usageRatio(cur autoscalingv2.MetricValueStatus, target autoscalingv2.MetricTarget) (float64, bool) {
	switch {
	case target.AverageUtilization != nil && cur.AverageUtilization != nil && *target.AverageUtilization > 0:
		return float64(*cur.AverageUtilization) / float64(*target.AverageUtilization), true
	case target.AverageValue != nil && cur.AverageValue != nil && !target.AverageValue.IsZero():
		return cur.AverageValue.AsApproximateFloat64() / target.AverageValue.AsApproximateFloat64(), true
	case target.Value != nil && cur.Value != nil && !target.Value.IsZero():
		return cur.Value.AsApproximateFloat64() / target.Value.AsApproximateFloat64(), true
	}
	return 0, false
}
