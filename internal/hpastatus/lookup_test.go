package hpastatus

import (
	"reflect"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
)

func TestLookups(t *testing.T) {
	h := embeddingHPA()
	if v, ok := PodsTarget(h, "gpu_utilization_percent"); !ok || v != 80 {
		t.Errorf("PodsTarget = %v, %t; want 80", v, ok)
	}
	if _, ok := PodsTarget(h, "gpu_memory_usage_mb"); ok {
		t.Error("PodsTarget found a metric the HPA does not have")
	}
	if v, ok := ResourceTarget(h, corev1.ResourceMemory); !ok || v != 80 {
		t.Errorf("ResourceTarget(memory) = %v, %t; want 80", v, ok)
	}
	if got := PodsMetrics(h); !reflect.DeepEqual(got, []string{"gpu_utilization_percent"}) {
		t.Errorf("PodsMetrics = %v", got)
	}
	if got := ResourceMetrics(h); !reflect.DeepEqual(got, []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}) {
		t.Errorf("ResourceMetrics = %v", got)
	}
	if v, ok := CurrentPods(h, "gpu_utilization_percent"); !ok || v != 85.5 {
		t.Errorf("CurrentPods = %v, %t; want 85.5", v, ok)
	}
	if v, ok := CurrentUtilization(h, corev1.ResourceCPU); !ok || v != 45 {
		t.Errorf("CurrentUtilization(cpu) = %v, %t; want 45", v, ok)
	}
	if _, ok := CurrentUtilization(h, corev1.ResourceMemory); ok {
		t.Error("CurrentUtilization(memory) reported a value the status lacks")
	}
	if c, ok := FindCondition(h, autoscalingv2.ScalingActive); !ok || c.Reason != "ValidMetricFound" {
		t.Errorf("FindCondition(ScalingActive) = %+v, %t", c, ok)
	}
	if s := ConditionStatus(h, autoscalingv2.ScalingLimited); s != corev1.ConditionUnknown {
		t.Errorf("ConditionStatus(absent) = %s, want Unknown", s)
	}
	if MinReplicas(h) != 2 {
		t.Errorf("MinReplicas = %d", MinReplicas(h))
	}
	h.Spec.MinReplicas = nil
	if MinReplicas(h) != 1 {
		t.Errorf("MinReplicas(unset) = %d, want the API default 1", MinReplicas(h))
	}
}
