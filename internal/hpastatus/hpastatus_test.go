package hpastatus

import (
	"bytes"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func ptr[T any](v T) *T { return &v }

var lastScale = time.Date(2026, 11, 29, 13, 55, 0, 0, time.UTC)

func embeddingHPA() *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "embedding-service-hpa", Namespace: "medical-kg"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "embedding-service", APIVersion: "apps/v1"},
			MinReplicas:    ptr(int32(2)),
			MaxReplicas:    10,
			Metrics: []autoscalingv2.MetricSpec{
				{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr(int32(70))}}},
				{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceMemory,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr(int32(80))}}},
				{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{Metric: autoscalingv2.MetricIdentifier{Name: "gpu_utilization_percent"},
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr(resource.MustParse("80"))}}},
			},
		},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{
			CurrentReplicas: 3, DesiredReplicas: 4, LastScaleTime: ptr(metav1.NewTime(lastScale)),
			CurrentMetrics: []autoscalingv2.MetricStatus{
				{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricStatus{Metric: autoscalingv2.MetricIdentifier{Name: "gpu_utilization_percent"},
					Current: autoscalingv2.MetricValueStatus{AverageValue: ptr(resource.MustParse("85500m"))}}},
				{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU,
					Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr(int32(45)), AverageValue: ptr(resource.MustParse("450m"))}}},
			},
			Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{
				{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, Reason: "SucceededRescale", Message: "the HPA controller was able to update the target scale to 4"},
				{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionTrue, Reason: "ValidMetricFound",
					Message: "the HPA was able to successfully calculate a replica count\nfrom pods metric gpu_utilization_percent"},
			},
		},
	}
}

func TestSummarize(t *testing.T) {
	s := Summarize(embeddingHPA())
	if s.Target != "Deployment/embedding-service" || s.CurrentReplicas != 3 || s.DesiredReplicas != 4 || s.MinReplicas != 2 || s.MaxReplicas != 10 {
		t.Errorf("summary = %+v", s)
	}
	want := []Metric{
		{Type: "Resource", Name: "cpu", Current: "45%", Target: "70% (avg utilization)"},
		{Type: "Resource", Name: "memory", Current: "<unknown>", Target: "80% (avg utilization)"},
		{Type: "Pods", Name: "gpu_utilization_percent", Current: "85.5", Target: "80 (avg)"},
	}
	for i, m := range want {
		if s.Metrics[i] != m {
			t.Errorf("metric %d = %+v, want %+v", i, s.Metrics[i], m)
		}
	}
	if s.Conditions[2].Type != "ScalingLimited" || s.Conditions[2].Status != "-" {
		t.Errorf("absent ScalingLimited should show '-': %+v", s.Conditions[2])
	}
}

func TestRender(t *testing.T) {
	var b bytes.Buffer
	now := lastScale.Add(90 * time.Second)
	if err := Render(&b, []HPA{Summarize(embeddingHPA())}, now); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"HPA embedding-service-hpa -> Deployment/embedding-service",
		"replicas: current 3, desired 4, min 2, max 10; last scale: 2026-11-29T13:55:00Z (1m30s ago)",
		"gpu_utilization_percent  Pods      85.5       80 (avg)",
		"AbleToScale     True    SucceededRescale",
		"ScalingLimited  -       -",
		"successfully calculate a replica count from pods metric", // multi-line message on one line
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	if err := Render(&b, nil, now); err != nil || !strings.Contains(b.String(), "no HorizontalPodAutoscalers") {
		t.Errorf("empty render = %q, %v", b.String(), err)
	}
}

func TestCollectSortsByName(t *testing.T) {
	a := embeddingHPA()
	z := embeddingHPA()
	z.Name = "zeta-hpa"
	other := embeddingHPA()
	other.Name, other.Namespace = "elsewhere", "default"
	hpas, err := Collect(t.Context(), fake.NewClientset(z, a, other), "medical-kg")
	if err != nil {
		t.Fatal(err)
	}
	if len(hpas) != 2 || hpas[0].Name != "embedding-service-hpa" || hpas[1].Name != "zeta-hpa" {
		t.Errorf("Collect = %+v", hpas)
	}
}

func TestFormatQuantity(t *testing.T) {
	for in, want := range map[string]string{"85500m": "85.5", "80": "80", "20Gi": "21474836480", "333m": "0.33", "0": "0"} {
		if got := FormatQuantity(resource.MustParse(in)); got != want {
			t.Errorf("FormatQuantity(%s) = %s, want %s", in, got, want)
		}
	}
}
