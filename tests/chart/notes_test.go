package chart_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
)

// renderNotes renders NOTES.txt with the helm SDK's engine (`helm template` never prints NOTES, and
// `helm install --dry-run` needs a cluster).
func renderNotes(t *testing.T, overrides map[string]any) string {
	t.Helper()
	chrt, err := loader.Load(chartPath(t, "gpu-autoscaling"))
	require.NoError(t, err)
	if overrides == nil {
		overrides = map[string]any{}
	}
	// As `helm install` does: resolve aliases and conditions before coalescing the values.
	require.NoError(t, chartutil.ProcessDependenciesWithMerge(chrt, overrides))
	vals, err := chartutil.ToRenderValues(chrt, overrides,
		chartutil.ReleaseOptions{Name: releaseName, Namespace: namespace, IsInstall: true, Revision: 1},
		chartutil.DefaultCapabilities)
	require.NoError(t, err)
	out, err := engine.Render(chrt, vals)
	require.NoError(t, err)
	notes, ok := out["gpu-autoscaling/templates/NOTES.txt"]
	require.True(t, ok, "NOTES.txt rendered")
	return notes
}

func TestNotesShowHowToCheckHPAsAndTheCustomMetricsAPI(t *testing.T) {
	t.Parallel()
	notes := renderNotes(t, nil)
	for _, want := range []string{
		"kubectl -n medical-kg get hpa",
		"kubectl -n medical-kg describe hpa embedding-service-hpa",
		"kubectl get apiservice v1beta1.custom.metrics.k8s.io v1beta2.custom.metrics.k8s.io",
		`kubectl get --raw "/apis/custom.metrics.k8s.io/v1beta2/namespaces/medical-kg/pods/*/gpu_utilization_percent"`,
		"docling-vlm-service-hpa -> Deployment/docling-vlm-service",
		"kubectl -n medical-kg logs -l app.kubernetes.io/component=exporter,app.kubernetes.io/instance=gpu-autoscaling",
	} {
		assert.Contains(t, notes, want)
	}

	// The example HPA follows the enabled services.
	noEmbedding := renderNotes(t, map[string]any{"services": map[string]any{"embedding-service": map[string]any{"enabled": false}}})
	assert.NotContains(t, noEmbedding, "embedding-service-hpa")
	assert.Contains(t, noEmbedding, "kubectl -n medical-kg describe hpa docling-vlm-service-hpa")

	rulesOnly := renderNotes(t, map[string]any{"adapter": map[string]any{"mode": "rulesOnly"}})
	assert.Contains(t, rulesOnly, "Rules-only mode")
	assert.Contains(t, rulesOnly, "--reuse-values -f gpu-rules.yaml")
	assert.Contains(t, rulesOnly, `kubectl -n medical-kg get cm gpu-autoscaling-adapter-rules -o jsonpath='{.data.prometheus-adapter-values\.yaml}'`)
	assert.NotContains(t, rulesOnly, "rules.existing=", "without existingConfig, mounting the ConfigMap would replace the adapter's rules")
	merged := renderNotes(t, map[string]any{"adapter": map[string]any{"mode": "rulesOnly", "rulesOnly": map[string]any{"existingConfig": "rules: []\n"}}})
	assert.Contains(t, merged, "rules.existing=gpu-autoscaling-adapter-rules")

	// The seed's forgeable `name` namespace label is an explicit opt-in, and NOTES warns about it.
	assert.NotContains(t, notes, "namespaceLabelKeys includes", "the default peer is the unforgeable kubernetes.io/metadata.name only")
	seedLabel := renderNotes(t, map[string]any{"networkPolicy": map[string]any{"exporter": map[string]any{
		"namespaceLabelKeys": []any{"kubernetes.io/metadata.name", "name"}}}})
	assert.Contains(t, seedLabel, `WARNING: networkPolicy.exporter.namespaceLabelKeys includes "name"`)
	assert.Contains(t, seedLabel, "name=monitoring may scrape the exporter")

	warn := renderNotes(t, map[string]any{"prometheusRule": map[string]any{"enabled": true}})
	assert.Contains(t, warn, "no monitoring.coreos.com/v1 PrometheusRule API")

	// The per-service panels need the chart's pod -> service recording rules.
	assert.Contains(t, notes, "WARNING: dashboards.enabled is true but neither prometheusRule.enabled nor prometheusRule.configMap")
	assert.Contains(t, notes, `gpu_autoscaling:pod_service:info{namespace="medical-kg"}`)
	for _, rules := range []map[string]any{{"enabled": true}, {"configMap": true}} {
		assert.NotContains(t, renderNotes(t, map[string]any{"prometheusRule": rules}), "WARNING: dashboards.enabled", "rules %v", rules)
	}
	assert.NotContains(t, renderNotes(t, map[string]any{"dashboards": map[string]any{"enabled": false}}), "WARNING: dashboards.enabled")
}
