package hpastatus

import (
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestRecommendation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(h *autoscalingv2.HorizontalPodAutoscaler)
		want   int32
		wantOK bool
	}{
		// 3 replicas: GPU 85.5/80 is within the 10 % tolerance (stay at
		// 3), CPU 45/70 asks for ceil(1.93) = 2; the larger wins.
		{"within tolerance", func(*autoscalingv2.HorizontalPodAutoscaler) {}, 3, true},
		{"GPU above target", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Status.CurrentMetrics[0].Pods.Current.AverageValue = ptr(resource.MustParse("200"))
		}, 8, true}, // ceil(3 × 2.5)
		{"clamped to max", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Status.CurrentMetrics[0].Pods.Current.AverageValue = ptr(resource.MustParse("500"))
		}, 10, true},
		{"clamped to min", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Status.CurrentMetrics[0].Pods.Current.AverageValue = ptr(resource.MustParse("10"))
			h.Status.CurrentMetrics[1].Resource.Current.AverageUtilization = ptr(int32(5))
		}, 2, true},
		{"utilization target", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Status.CurrentMetrics[1].Resource.Current.AverageUtilization = ptr(int32(140))
		}, 6, true}, // ceil(3 × 2)
		{"no current values", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Status.CurrentMetrics = nil }, 0, false},
		{"no replicas yet", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Status.CurrentReplicas = 0 }, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := embeddingHPA()
			tc.change(h)
			got, ok := Recommendation(h, DefaultTolerance)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("Recommendation = %d, %t; want %d, %t", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}
