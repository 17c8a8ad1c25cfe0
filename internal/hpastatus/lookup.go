package hpastatus

import (
	"sort"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
)

// FindCondition returns the HPA's condition of the given type, if reported.
func FindCondition(h *autoscalingv2.HorizontalPodAutoscaler, t autoscalingv2.HorizontalPodAutoscalerConditionType) (autoscalingv2.HorizontalPodAutoscalerCondition, bool) {
	for _, c := range h.Status.Conditions {
		if c.Type == t {
			return c, true
		}
	}
	return autoscalingv2.HorizontalPodAutoscalerCondition{}, false
}

// ConditionStatus is a condition's status, Unknown when absent.
func ConditionStatus(h *autoscalingv2.HorizontalPodAutoscaler, t autoscalingv2.HorizontalPodAutoscalerConditionType) corev1.ConditionStatus {
	if c, ok := FindCondition(h, t); ok {
		return c.Status
	}
	return corev1.ConditionUnknown
}

// MinReplicas is spec.minReplicas, 1 when unset (the API's default).
func MinReplicas(h *autoscalingv2.HorizontalPodAutoscaler) int32 {
	if h.Spec.MinReplicas != nil {
		return *h.Spec.MinReplicas
	}
	return 1
}

// PodsTarget returns an HPA's AverageValue target for a Pods metric.
func PodsTarget(h *autoscalingv2.HorizontalPodAutoscaler, metric string) (float64, bool) {
	for _, m := range h.Spec.Metrics {
		if m.Type == autoscalingv2.PodsMetricSourceType && m.Pods != nil && m.Pods.Metric.Name == metric &&
			m.Pods.Target.AverageValue != nil {
			return m.Pods.Target.AverageValue.AsApproximateFloat64(), true
		}
	}
	return 0, false
}

// ResourceTarget returns an HPA's averageUtilization target (percent of
// requests) for a resource metric.
func ResourceTarget(h *autoscalingv2.HorizontalPodAutoscaler, name corev1.ResourceName) (float64, bool) {
	for _, m := range h.Spec.Metrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == name &&
			m.Resource.Target.AverageUtilization != nil {
			return float64(*m.Resource.Target.AverageUtilization), true
		}
	}
	return 0, false
}

// PodsMetrics lists the Pods metric names an HPA scales on, sorted.
func PodsMetrics(h *autoscalingv2.HorizontalPodAutoscaler) []string {
	var out []string
	for _, m := range h.Spec.Metrics {
		if m.Type == autoscalingv2.PodsMetricSourceType && m.Pods != nil {
			out = append(out, m.Pods.Metric.Name)
		}
	}
	sort.Strings(out)
	return out
}

// ResourceMetrics lists the resource names (cpu, memory) an HPA scales on.
func ResourceMetrics(h *autoscalingv2.HorizontalPodAutoscaler) []corev1.ResourceName {
	var out []corev1.ResourceName
	for _, m := range h.Spec.Metrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil {
			out = append(out, m.Resource.Name)
		}
	}
	return out
}

// CurrentPods is the HPA's last reported average value of a Pods metric.
func CurrentPods(h *autoscalingv2.HorizontalPodAutoscaler, metric string) (float64, bool) {
	for _, m := range h.Status.CurrentMetrics {
		if m.Type == autoscalingv2.PodsMetricSourceType && m.Pods != nil && m.Pods.Metric.Name == metric &&
			m.Pods.Current.AverageValue != nil {
			return m.Pods.Current.AverageValue.AsApproximateFloat64(), true
		}
	}
	return 0, false
}

// CurrentUtilization is the HPA's last reported average utilization of a
// resource metric (percent of requests).
func CurrentUtilization(h *autoscalingv2.HorizontalPodAutoscaler, name corev1.ResourceName) (float64, bool) {
	for _, m := range h.Status.CurrentMetrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == name &&
			m.Resource.Current.AverageUtilization != nil {
			return float64(*m.Resource.Current.AverageUtilization), true
		}
	}
	return 0, false
}
