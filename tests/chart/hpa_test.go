package chart_test

import (
	"context"
	"testing"

	"github.com/gruntwork-io/terratest/modules/helm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

// The seed's HPA specification, written out by hand from the guide (Configuration, Scaling Behavior,
// Performance Optimization), so a chart change that drifts from it fails here.
func seedResource(name corev1.ResourceName, utilization int32) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{
			Name:   name,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(utilization)},
		},
	}
}

func seedPods(metric, averageValue string) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{
		Type: autoscalingv2.PodsMetricSourceType,
		Pods: &autoscalingv2.PodsMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: metric},
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(resource.MustParse(averageValue))},
		},
	}
}

func seedBehavior() *autoscalingv2.HorizontalPodAutoscalerBehavior {
	return &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp: &autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: ptr.To[int32](300),
			Policies: []autoscalingv2.HPAScalingPolicy{
				{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 60},
				{Type: autoscalingv2.PodsScalingPolicy, Value: 2, PeriodSeconds: 60},
			},
		},
		ScaleDown: &autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: ptr.To[int32](600),
			Policies: []autoscalingv2.HPAScalingPolicy{
				{Type: autoscalingv2.PercentScalingPolicy, Value: 50, PeriodSeconds: 60},
			},
		},
	}
}

func seedSpec(service string, metrics ...autoscalingv2.MetricSpec) autoscalingv2.HorizontalPodAutoscalerSpec {
	return autoscalingv2.HorizontalPodAutoscalerSpec{
		ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: service},
		MinReplicas:    ptr.To[int32](2),
		MaxReplicas:    10,
		Metrics:        metrics,
		Behavior:       seedBehavior(),
	}
}

func seedHPAs() map[string]autoscalingv2.HorizontalPodAutoscalerSpec {
	cpu, mem := seedResource(corev1.ResourceCPU, 70), seedResource(corev1.ResourceMemory, 80)
	gpu := seedPods("gpu_utilization_percent", "80")
	return map[string]autoscalingv2.HorizontalPodAutoscalerSpec{
		"gpu-management-service-hpa": seedSpec("gpu-management-service", cpu, mem),
		"embedding-service-hpa":      seedSpec("embedding-service", cpu, mem, gpu),
		"reranking-service-hpa":      seedSpec("reranking-service", cpu, mem, gpu),
		// GPU memory target: 30720 MB per pod (75 % of a 40 GB A100), the chart's documented default.
		"docling-vlm-service-hpa": seedSpec("docling-vlm-service", cpu, mem, gpu, seedPods("gpu_memory_usage_mb", "30720")),
	}
}

func hpasByName(t *testing.T, req renderRequest) map[string]*hpaV2 {
	t.Helper()
	out := map[string]*hpaV2{}
	for _, h := range typedOf[*hpaV2](decodeAll(t, render(t, req))) {
		assert.Equal(t, namespace, h.Namespace, "%s", h.Name)
		out[h.Name] = h
	}
	return out
}

// assertSpec compares field by field so a failure names the field that drifted.
func assertSpec(t *testing.T, name string, want, got autoscalingv2.HorizontalPodAutoscalerSpec) {
	t.Helper()
	assert.Equal(t, want.ScaleTargetRef, got.ScaleTargetRef, "%s: scaleTargetRef", name)
	assert.Equal(t, want.MinReplicas, got.MinReplicas, "%s: minReplicas", name)
	assert.Equal(t, want.MaxReplicas, got.MaxReplicas, "%s: maxReplicas", name)
	if assert.Len(t, got.Metrics, len(want.Metrics), "%s: metrics", name) {
		for i := range want.Metrics {
			assert.True(t, apiequality.Semantic.DeepEqual(want.Metrics[i], got.Metrics[i]),
				"%s: metrics[%d]\nwant %s\ngot  %s", name, i, mustJSON(t, want.Metrics[i]), mustJSON(t, got.Metrics[i]))
		}
	}
	assert.True(t, apiequality.Semantic.DeepEqual(want.Behavior, got.Behavior),
		"%s: behavior\nwant %s\ngot  %s", name, mustJSON(t, want.Behavior), mustJSON(t, got.Behavior))
	assert.True(t, apiequality.Semantic.DeepEqual(want, got), "%s: spec", name)
}

func TestHPAsEqualTheSeed(t *testing.T) {
	t.Parallel()
	for _, sc := range []scenario{
		{name: "defaults", req: renderRequest{}},
		{name: "production", req: renderRequest{valuesFiles: []string{"values/production.yaml"}, extraArgs: monitoringAPIs}},
		{name: "rules-only", req: renderRequest{valuesFiles: []string{"values/rules-only.yaml"}}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			got := hpasByName(t, sc.req)
			want := seedHPAs()
			require.Len(t, got, len(want))
			for name, spec := range want {
				h, ok := got[name]
				if !assert.True(t, ok, "HPA %s missing", name) {
					continue
				}
				assertSpec(t, name, spec, h.Spec)
			}
		})
	}
}

func TestHPAOverrides(t *testing.T) {
	t.Parallel()
	t.Run("per-service fields override the global behavior one by one", func(t *testing.T) {
		t.Parallel()
		got := hpasByName(t, renderRequest{values: `
services:
  embedding-service:
    minReplicas: 3
    maxReplicas: 20
    behavior:
      scaleUp:
        stabilizationWindowSeconds: 0
      scaleDown:
        selectPolicy: Disabled
`})
		h := got["embedding-service-hpa"]
		require.NotNil(t, h)
		assert.EqualValues(t, 3, *h.Spec.MinReplicas)
		assert.EqualValues(t, 20, h.Spec.MaxReplicas)
		want := seedBehavior()
		want.ScaleUp.StabilizationWindowSeconds = ptr.To[int32](0)
		want.ScaleDown.SelectPolicy = ptr.To(autoscalingv2.DisabledPolicySelect)
		assert.True(t, apiequality.Semantic.DeepEqual(want, h.Spec.Behavior), "got %s", mustJSON(t, h.Spec.Behavior))
		// Other services keep the seed.
		assertSpec(t, "reranking-service-hpa", seedHPAs()["reranking-service-hpa"], got["reranking-service-hpa"].Spec)
	})
	t.Run("global behavior change reaches every HPA; policies replace as a list", func(t *testing.T) {
		t.Parallel()
		got := hpasByName(t, renderRequest{valuesFiles: []string{"values/dev.yaml"}})
		for name, h := range got {
			require.NotNil(t, h.Spec.Behavior.ScaleUp, name)
			assert.EqualValues(t, 30, *h.Spec.Behavior.ScaleUp.StabilizationWindowSeconds, name)
			assert.EqualValues(t, 60, *h.Spec.Behavior.ScaleDown.StabilizationWindowSeconds, name)
			assert.Len(t, h.Spec.Behavior.ScaleUp.Policies, 2, name)
			for _, p := range h.Spec.Behavior.ScaleUp.Policies {
				assert.EqualValues(t, 15, p.PeriodSeconds, name)
			}
		}
	})
	t.Run("a service can be disabled", func(t *testing.T) {
		t.Parallel()
		got := hpasByName(t, renderRequest{set: map[string]string{"services.reranking-service.enabled": "false"}})
		assert.NotContains(t, got, "reranking-service-hpa")
		assert.Len(t, got, 3)
	})
	t.Run("a new service by values alone gets the defaults", func(t *testing.T) {
		t.Parallel()
		got := hpasByName(t, renderRequest{values: `
services:
  ocr-service:
    targets:
      gpuUtilization: 60
`})
		h := got["ocr-service-hpa"]
		require.NotNil(t, h)
		assertSpec(t, "ocr-service-hpa", seedSpec("ocr-service", seedPods("gpu_utilization_percent", "60")), h.Spec)
	})
	t.Run("a default target is removed with null; scaleTargetRef is overridable", func(t *testing.T) {
		t.Parallel()
		got := hpasByName(t, renderRequest{values: `
services:
  docling-vlm-service:
    scaleTargetRef:
      kind: StatefulSet
      name: docling-vlm
    targets:
      memoryUtilization: null
      gpuMemoryMB: 61440
`})
		h := got["docling-vlm-service-hpa"]
		require.NotNil(t, h)
		assert.Equal(t, autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "docling-vlm"}, h.Spec.ScaleTargetRef)
		want := []autoscalingv2.MetricSpec{
			seedResource(corev1.ResourceCPU, 70),
			seedPods("gpu_utilization_percent", "80"),
			seedPods("gpu_memory_usage_mb", "61440"),
		}
		assert.True(t, apiequality.Semantic.DeepEqual(want, h.Spec.Metrics), "got %s", mustJSON(t, h.Spec.Metrics))
	})
	t.Run("request rate and extra metrics", func(t *testing.T) {
		t.Parallel()
		got := hpasByName(t, renderRequest{values: `
adapter:
  rules:
    requestRate:
      enabled: true
services:
  embedding-service:
    targets:
      requestsPerSecond: 50
    extraMetrics:
      - type: External
        external:
          metric:
            name: queue_depth
          target:
            type: AverageValue
            averageValue: "30"
`})
		h := got["embedding-service-hpa"]
		require.NotNil(t, h)
		require.Len(t, h.Spec.Metrics, 5)
		assert.True(t, apiequality.Semantic.DeepEqual(seedPods("service_requests_per_second", "50"), h.Spec.Metrics[3]), "got %s", mustJSON(t, h.Spec.Metrics[3]))
		assert.Equal(t, autoscalingv2.ExternalMetricSourceType, h.Spec.Metrics[4].Type)
	})
}

// TestHPATemplateAloneThroughTerratest renders only templates/hpa.yaml (helm template --show-only) and
// decodes it with Terratest's UnmarshalK8SYamlE: the same four seed HPAs as the strict full-chart decode.
func TestHPATemplateAloneThroughTerratest(t *testing.T) {
	t.Parallel()
	requireHelm(t)
	ctx, cancel := context.WithTimeout(context.Background(), renderTimeout)
	defer cancel()
	out, err := helm.RenderTemplateContextE(t, ctx, helmOptions(t, renderRequest{}), chartPath(t, "gpu-autoscaling"),
		releaseName, []string{"templates/hpa.yaml"})
	require.NoError(t, err)
	var hpas []autoscalingv2.HorizontalPodAutoscaler
	require.NoError(t, helm.UnmarshalK8SYamlE(t, out, &hpas))
	want := seedHPAs()
	require.Len(t, hpas, len(want))
	for _, h := range hpas {
		assert.Equal(t, "autoscaling/v2", h.APIVersion)
		spec, ok := want[h.Name]
		if assert.True(t, ok, "unexpected HPA %s", h.Name) {
			assertSpec(t, h.Name, spec, h.Spec)
		}
	}
}
