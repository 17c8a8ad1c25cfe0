package chart_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/gruntwork-io/terratest/modules/helm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The labels every object of the umbrella chart carries (contract in the project design).
var requiredLabels = []string{
	"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component",
	"app.kubernetes.io/part-of", "app.kubernetes.io/managed-by", "app.kubernetes.io/version",
}

func TestEveryValuesFileRendersIntoTypedObjects(t *testing.T) {
	t.Parallel()
	ca, _ := newCAPEM()
	all := append(scenarios(t),
		scenario{name: "subcharts-off", req: renderRequest{set: map[string]string{"adapter.enabled": "false", "exporter.enabled": "false"}}},
		scenario{name: "adapter-existing-secret", req: renderRequest{values: existingSecretValues(userSecret, ca)}},
		scenario{name: "all-optional-on", req: renderRequest{extraArgs: monitoringAPIs, values: `
exporter:
  backend: simulated
  hostProc: {enabled: true}
  serviceMonitor: {enabled: true}
adapter:
  tls: {source: certManager}
  rules:
    requestRate: {enabled: true}
  rbac:
    metricsReaders:
      enabled: true
      subjects: [{kind: Group, name: sre, apiGroup: rbac.authorization.k8s.io}]
prometheusRule: {enabled: true, configMap: true}
networkPolicy:
  exporter:
    podSelector: {app.kubernetes.io/name: prometheus}
`}})
	for _, sc := range all {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			objects := decodeAll(t, render(t, sc.req))
			require.NotEmpty(t, objects)
			seen := map[string]string{}
			for _, o := range objects {
				key := o.kind + "/" + o.ns + "/" + o.name
				prev, dup := seen[key]
				assert.False(t, dup, "%s rendered twice (%s and %s)", key, prev, o.source)
				seen[key] = o.source
				for _, l := range requiredLabels {
					assert.NotEmpty(t, o.labels[l], "%s %s (%s) lacks label %s", o.kind, o.name, o.source, l)
				}
				assert.Equal(t, "gpu-autoscaling", o.labels["app.kubernetes.io/part-of"], "%s %s", o.kind, o.name)
				assert.LessOrEqual(t, len(o.name), 63, "%s %s: name longer than 63 characters", o.kind, o.name)
			}
			assert.NotEmpty(t, byKind(objects, "HorizontalPodAutoscaler"), "no HPA rendered")
		})
	}
}

func TestHelmLintStrict(t *testing.T) {
	t.Parallel()
	requireHelm(t)
	root := repoRoot(t)
	type lintCase struct {
		name, chart string
		files       []string
	}
	cases := []lintCase{
		{name: "gpu-autoscaling/defaults", chart: "gpu-autoscaling"},
		{name: "gpu-services/defaults", chart: "gpu-services"},
	}
	for _, f := range valuesFiles(t) {
		cases = append(cases, lintCase{name: "gpu-autoscaling/" + filepath.Base(f), chart: "gpu-autoscaling", files: []string{f}})
	}
	extra, err := filepath.Glob(filepath.Join(root, "values", "gpu-services", "*.yaml"))
	require.NoError(t, err)
	for _, f := range extra {
		rel, err := filepath.Rel(root, f)
		require.NoError(t, err)
		cases = append(cases, lintCase{name: "gpu-services/" + filepath.Base(f), chart: "gpu-services", files: []string{rel}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			opts := helmOptions(t, renderRequest{valuesFiles: c.files})
			args := []string{"--strict", chartPath(t, c.chart)}
			args = append(args, valuesArgs(opts)...)
			out, err := helm.RunHelmCommandAndGetOutputContextE(t, context.Background(), opts, "lint", args...)
			require.NoError(t, err, "helm lint --strict failed:\n%s", out)
			assert.Contains(t, out, "0 chart(s) failed")
			assert.NotContains(t, out, "[WARNING]")
			assert.NotContains(t, out, "[ERROR]")
		})
	}
}

// valuesArgs turns the options' values files into -f flags (helm lint takes them like template does).
func valuesArgs(opts *helm.Options) []string {
	args, err := helm.FormatValuesFilesAsArgsE(opts.ValuesFiles)
	if err != nil {
		return nil
	}
	return args
}
