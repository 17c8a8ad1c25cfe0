package demo

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/medical-kg/gpu-autoscaling/internal/deploy"
	"github.com/medical-kg/gpu-autoscaling/internal/loadmodel"
	"github.com/medical-kg/gpu-autoscaling/internal/repo"
)

// hpaFor builds an HPA the way the chart renders one: cpu/memory
// utilization plus the optional GPU Pods metrics.
func hpaFor(service string, min, max int32, gpuUtil, gpuMem float64) *autoscalingv2.HorizontalPodAutoscaler {
	util := func(v int32) *int32 { return &v }
	h := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: service + "-hpa"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: service, APIVersion: "apps/v1"},
			MinReplicas:    &min, MaxReplicas: max,
			Metrics: []autoscalingv2.MetricSpec{
				{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: util(70)}}},
				{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceMemory,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: util(80)}}},
			},
		},
	}
	pods := func(name string, v float64) autoscalingv2.MetricSpec {
		q := *resource.NewQuantity(int64(v), resource.DecimalSI)
		return autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: name},
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &q}}}
	}
	if gpuUtil > 0 {
		h.Spec.Metrics = append(h.Spec.Metrics, pods(string(GPUUtilization), gpuUtil))
	}
	if gpuMem > 0 {
		h.Spec.Metrics = append(h.Spec.Metrics, pods(string(GPUMemory), gpuMem))
	}
	return h
}

func podSpec(cpu, mem string) corev1.PodSpec {
	req := corev1.ResourceList{}
	if cpu != "" {
		req[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		req[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	return corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Requests: req}}}}
}

func TestTargetFromHPA(t *testing.T) {
	pod := podSpec("1000m", "4Gi")
	tests := []struct {
		name      string
		hpa       *autoscalingv2.HorizontalPodAutoscaler
		driver    Driver
		perPod    float64
		hpaTarget float64
		load      float64
		want      loadmodel.Demand
		expected  int
	}{
		{"GPU utilization", hpaFor("embedding-service", 2, 10, 80, 0), GPUUtilization, 80, 80, 4.75,
			loadmodel.Demand{GPUUtilization: 380}, 5},
		{"GPU memory with some GPU work", hpaFor("docling-vlm-service", 2, 10, 80, 30720), GPUMemory, 30720, 30720, 3.75,
			loadmodel.Demand{GPUMemoryMB: 115200, GPUUtilization: 0.4 * 80 * 2}, 4},
		{"cpu from utilization × request, memory companion", hpaFor("gpu-management-service", 2, 10, 0, 0), CPU, 700, 70, 2.75,
			loadmodel.Demand{CPUMillicores: 1925, MemoryMiB: 0.3 * 4096 * 2}, 3},
		{"expected clamped to maxReplicas", hpaFor("embedding-service", 2, 4, 80, 0), GPUUtilization, 80, 80, 7.5,
			loadmodel.Demand{GPUUtilization: 600}, 4},
		{"expected clamped to minReplicas", hpaFor("embedding-service", 3, 10, 80, 0), GPUUtilization, 80, 80, 0.5,
			loadmodel.Demand{GPUUtilization: 40}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := TargetFromHPA(tc.hpa, pod, tc.driver)
			if err != nil {
				t.Fatal(err)
			}
			if tg.PerPod != tc.perPod || tg.HPATarget != tc.hpaTarget {
				t.Errorf("per pod %v (HPA %v), want %v (HPA %v)", tg.PerPod, tg.HPATarget, tc.perPod, tc.hpaTarget)
			}
			if got := tg.Demand(tc.load); math.Abs(got.GPUUtilization-tc.want.GPUUtilization) > 1e-6 ||
				math.Abs(got.GPUMemoryMB-tc.want.GPUMemoryMB) > 1e-6 || math.Abs(got.CPUMillicores-tc.want.CPUMillicores) > 1e-6 ||
				math.Abs(got.MemoryMiB-tc.want.MemoryMiB) > 1e-6 {
				t.Errorf("Demand(%v) = %+v, want %+v", tc.load, got, tc.want)
			}
			if got := tg.Expected(tc.load); got != tc.expected {
				t.Errorf("Expected(%v) = %d, want %d", tc.load, got, tc.expected)
			}
		})
	}
}

func TestTargetFromHPAErrors(t *testing.T) {
	tests := []struct {
		name   string
		hpa    *autoscalingv2.HorizontalPodAutoscaler
		pod    corev1.PodSpec
		driver Driver
		want   string
	}{
		{"no GPU utilization metric", hpaFor("embedding-service", 2, 10, 0, 0), podSpec("1", "1Gi"), GPUUtilization, "no Pods metric gpu_utilization_percent"},
		{"no GPU memory metric", hpaFor("docling-vlm-service", 2, 10, 80, 0), podSpec("1", "1Gi"), GPUMemory, "no Pods metric gpu_memory_usage_mb"},
		{"no cpu request", hpaFor("gpu-management-service", 2, 10, 0, 0), podSpec("", "1Gi"), CPU, "requests no cpu"},
		{"max below min", hpaFor("embedding-service", 5, 3, 80, 0), podSpec("1", "1Gi"), GPUUtilization, "maxReplicas 3 below minReplicas 5"},
		{"unknown driver", hpaFor("embedding-service", 2, 10, 80, 0), podSpec("1", "1Gi"), "rps", "unknown driver"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := TargetFromHPA(tc.hpa, tc.pod, tc.driver)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestCheckTarget(t *testing.T) {
	tg := Target{Service: "s", Driver: GPUUtilization, PerPod: 80, HPATarget: 80, Min: 2, Max: 10}
	tests := []struct {
		name       string
		base, peak float64
		want       string // empty: accepted
	}{
		{"default-like", 0.5, 4.75, ""},
		{"peak one replica short inside the tolerance", 0.5, 4.4, "inside the HPA tolerance"},
		{"ratio of exactly 1.1 stays put", 0.5, 5.5, "inside the HPA tolerance"},
		{"base above the minimum", 2.5, 5.5, "not the HPA's minimum"},
		{"peak at the minimum", 0.5, 1.9, "raise the peak"},
		{"peak far above max is clamped and fine", 0.5, 30, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckTarget(ServiceLoad{Service: "s", Driver: GPUUtilization, Base: tc.base, Peak: tc.peak}, tg, DefaultTolerance)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestCurrentValue(t *testing.T) {
	h := hpaFor("docling-vlm-service", 2, 10, 80, 30720)
	if v, ok := CurrentValue(h, GPUMemory); ok || !math.IsNaN(v) {
		t.Errorf("no status yet: got %v, %v; want NaN, false", v, ok)
	}
	mem := resource.MustParse("28800")
	util := int32(64)
	h.Status.CurrentMetrics = []autoscalingv2.MetricStatus{
		{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU,
			Current: autoscalingv2.MetricValueStatus{AverageUtilization: &util}}},
		{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricStatus{Metric: autoscalingv2.MetricIdentifier{Name: string(GPUMemory)},
			Current: autoscalingv2.MetricValueStatus{AverageValue: &mem}}},
	}
	if v, ok := CurrentValue(h, GPUMemory); !ok || v != 28800 {
		t.Errorf("memory: got %v, %v; want 28800", v, ok)
	}
	if v, ok := CurrentValue(h, CPU); !ok || v != 64 {
		t.Errorf("cpu: got %v, %v; want 64", v, ok)
	}
	if _, ok := CurrentValue(h, GPUUtilization); ok {
		t.Errorf("utilization is not in the status, but was found")
	}
}

// TestDefaultScenarioFitsTheSandboxChart renders the chart with
// values/sandbox.yaml and the stand-in services with their sandbox values,
// as the demo installs them, and checks the default scenario against the
// HPAs and pod requests that come out: the demo's expectations follow the
// chart, so a change of targets that breaks the demo fails here first.
func TestDefaultScenarioFitsTheSandboxChart(t *testing.T) {
	root, err := repo.Root()
	if err != nil {
		t.Skip(err.Error())
	}
	render := func(chart, values string) map[string]string {
		plan, err := deploy.Prepare(deploy.Options{Chart: filepath.Join(root, chart), ValueFiles: []string{filepath.Join(root, values)}})
		if err != nil {
			t.Fatalf("render %s with %s: %v", chart, values, err)
		}
		return releaseutil.SplitManifests(plan.Manifest)
	}
	hpas := map[string]*autoscalingv2.HorizontalPodAutoscaler{}
	for _, doc := range render("charts/gpu-autoscaling", "values/sandbox.yaml") {
		var h autoscalingv2.HorizontalPodAutoscaler
		if err := yaml.Unmarshal([]byte(doc), &h); err != nil || h.Kind != "HorizontalPodAutoscaler" {
			continue
		}
		hpas[h.Spec.ScaleTargetRef.Name] = &h
	}
	pods := map[string]corev1.PodSpec{}
	for _, doc := range render("charts/gpu-services", "values/gpu-services/sandbox.yaml") {
		var d appsv1.Deployment
		if err := yaml.Unmarshal([]byte(doc), &d); err != nil || d.Kind != "Deployment" {
			continue
		}
		pods[d.Name] = d.Spec.Template.Spec
	}
	for _, l := range DefaultScenario().Services {
		h, ok := hpas[l.Service]
		if !ok {
			t.Errorf("%s: the chart renders no HPA for it", l.Service)
			continue
		}
		pod, ok := pods[l.Service]
		if !ok {
			t.Errorf("%s: charts/gpu-services renders no Deployment for it", l.Service)
			continue
		}
		tg, err := TargetFromHPA(h, pod, l.Driver)
		if err != nil {
			t.Errorf("%s: %v", l.Service, err)
			continue
		}
		if err := CheckTarget(l, tg, DefaultTolerance); err != nil {
			t.Errorf("%v", err)
		}
		t.Logf("%s: %s target %v per pod, replicas %d → %d → %d", l.Service, l.Driver, tg.PerPod,
			tg.Expected(l.Base), tg.Expected(l.Peak), tg.Expected(l.Base))
	}
}
