package chart_test

import (
	"context"
	"path/filepath"
	"strings"
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
	all := append(scenarios(t),
		scenario{name: "subcharts-off", req: renderRequest{set: map[string]string{"adapter.enabled": "false", "exporter.enabled": "false"}}},
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

func TestGPUServicesChart(t *testing.T) {
	t.Parallel()
	for _, vf := range []string{"", "values/gpu-services/sandbox.yaml", "values/gpu-services/kind.yaml"} {
		name := "defaults"
		if vf != "" {
			name = filepath.Base(vf)
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			req := renderRequest{chart: "gpu-services"}
			if vf != "" {
				req.valuesFiles = []string{vf}
			}
			objects := decodeAll(t, render(t, req))
			deployments := typedOf[*appsDeployment](objects)
			require.Len(t, deployments, 4)
			names := map[string]bool{}
			for _, d := range deployments {
				names[d.Name] = true
				require.NotNil(t, d.Spec.Replicas)
				assert.EqualValues(t, 2, *d.Spec.Replicas, "%s: install-time replicas", d.Name)
				pod := d.Spec.Template
				assert.Equal(t, d.Name, pod.Labels["app"], "%s: pods carry app=<service>", d.Name)
				assert.Equal(t, d.Name, pod.Labels["app.kubernetes.io/name"], "%s", d.Name)
				assert.Equal(t, map[string]string{"app.kubernetes.io/name": d.Name, "app.kubernetes.io/instance": releaseName},
					d.Spec.Selector.MatchLabels, "%s: selector is name+instance only", d.Name)
				c := pod.Spec.Containers[0]
				if vf == "values/gpu-services/kind.yaml" {
					continue
				}
				for res, want := range map[string]string{"memory": "4Gi", "cpu": "1", "nvidia.com/gpu": "1"} {
					q := c.Resources.Requests[corev1ResourceName(res)]
					assert.Equal(t, want, q.String(), "%s: request %s", d.Name, res)
				}
				for res, want := range map[string]string{"memory": "8Gi", "cpu": "2", "nvidia.com/gpu": "1"} {
					q := c.Resources.Limits[corev1ResourceName(res)]
					assert.Equal(t, want, q.String(), "%s: limit %s", d.Name, res)
				}
				if vf == "values/gpu-services/sandbox.yaml" {
					found := false
					for _, tol := range pod.Spec.Tolerations {
						if tol.Key == "kwok.x-k8s.io/node" && tol.Value == "fake" && string(tol.Effect) == "NoSchedule" {
							found = true
						}
					}
					assert.True(t, found, "%s: sandbox workloads tolerate the kwok taint", d.Name)
				}
			}
			for _, want := range []string{"gpu-management-service", "embedding-service", "reranking-service", "docling-vlm-service"} {
				assert.True(t, names[want], "missing Deployment %s", want)
			}
		})
	}
	t.Run("replicas-null-leaves-them-to-the-hpa", func(t *testing.T) {
		t.Parallel()
		out := render(t, renderRequest{chart: "gpu-services", values: "replicas: null\n"})
		for _, d := range typedOf[*appsDeployment](decodeAll(t, out)) {
			assert.Nil(t, d.Spec.Replicas, "%s", d.Name)
		}
		assert.False(t, strings.Contains(out, "replicas:"))
	})
}
