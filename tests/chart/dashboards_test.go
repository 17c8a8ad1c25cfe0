package chart_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	grafana "github.com/medical-kg/gpu-autoscaling/internal/dashboards"
)

// The overview dashboard follows .Values.services: its $service variable
// offers exactly the enabled services (one added in values appears, a
// disabled one goes), "All" means those and not every pod of the namespace,
// and every label_replace that maps a pod to its service does so for
// Deployment pods (<name>-<hash>-<suffix>) and StatefulSet pods (<name>-<n>).
func TestDashboardsFollowServicesAndMapPods(t *testing.T) {
	t.Parallel()
	objects := decodeAll(t, render(t, renderRequest{values: "services:\n  ocr-service:\n    targets:\n      cpuUtilization: 60\n  reranking-service:\n    enabled: false\n"}))
	boards := dashboards(t, objects)
	board, ok := boards["gpu-autoscaling-overview.json"]
	require.True(t, ok, "overview dashboard rendered: %v", boards)
	d := loadDashboard(t, "overview", board)
	var service *grafana.Variable
	for i := range d.Variables {
		if d.Variables[i].Name == "service" {
			service = &d.Variables[i]
		}
	}
	require.NotNil(t, service, "$service variable")
	want := []string{"docling-vlm-service", "embedding-service", "gpu-management-service", "ocr-service"}
	assert.Equal(t, want, service.Options, "$service offers the enabled services")
	assert.Equal(t, strings.Join(want, "|"), service.AllValue, `"All" is exactly those services`)

	pods := map[string]string{
		"ocr-service-6d4cf56db6-x7k2p":          "ocr-service",         // Deployment
		"docling-vlm-service-0":                 "docling-vlm-service", // StatefulSet
		"model-v2-12":                           "model-v2",
		"gpu-management-service-77575b66-abcde": "gpu-management-service",
	}
	checked := 0
	for _, p := range d.Panels {
		for _, target := range p.Targets {
			expr, err := promql.ParseExpr(expandGrafana(t, d, target))
			require.NoError(t, err, "%s: %s", p.Title, target)
			parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
				call, ok := node.(*parser.Call)
				if !ok || call.Func.Name != "label_replace" {
					return nil
				}
				src := call.Args[4].(*parser.StringLiteral).Val
				re := regexp.MustCompile("^(?:" + src + ")$") // Prometheus anchors label_replace's regex
				for pod, svc := range pods {
					assert.Equal(t, svc, re.ReplaceAllString(pod, call.Args[2].(*parser.StringLiteral).Val),
						"%s: label_replace regex %q maps pod %s", p.Title, src, pod)
				}
				checked++
				return nil
			})
		}
	}
	assert.GreaterOrEqual(t, checked, 8, "label_replace calls checked")
}
