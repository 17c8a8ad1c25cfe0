package chart_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	grafana "github.com/medical-kg/gpu-autoscaling/internal/dashboards"
)

// The overview dashboard follows .Values.services: its $service variable
// offers exactly the enabled services (one added in values appears, a
// disabled one goes), and "All" means those and not every pod of the
// namespace. How pods map to them: workloads_test.go.
func TestDashboardsFollowServices(t *testing.T) {
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
}

// A panel that plots percentages beside another unit (the overview's CPU
// panel: cores per service, percent per node) gives the percent targets
// their own unit and axis; one that plots only percentages says percent.
func TestDashboardPercentTargetsHaveTheirOwnAxis(t *testing.T) {
	t.Parallel()
	objects := decodeAll(t, render(t, renderRequest{}))
	type override struct {
		Matcher struct {
			ID      string `json:"id"`
			Options string `json:"options"`
		} `json:"matcher"`
		Properties []struct {
			ID    string `json:"id"`
			Value any    `json:"value"`
		} `json:"properties"`
	}
	type panel struct {
		Title       string `json:"title"`
		FieldConfig struct {
			Defaults struct {
				Unit string `json:"unit"`
			} `json:"defaults"`
			Overrides []override `json:"overrides"`
		} `json:"fieldConfig"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	}
	percent := regexp.MustCompile(`\b[a-z_]+_percent\b`)
	checked := 0
	for name, board := range dashboards(t, objects) {
		var doc struct {
			Panels []panel `json:"panels"`
		}
		require.NoError(t, json.Unmarshal([]byte(board), &doc), name)
		for _, p := range doc.Panels {
			for _, tg := range p.Targets {
				// count(… _percent > x) counts GPUs: not a percentage.
				if !percent.MatchString(tg.Expr) || strings.HasPrefix(tg.Expr, "count") || p.FieldConfig.Defaults.Unit == "percent" {
					continue
				}
				props := map[string]any{}
				for _, o := range p.FieldConfig.Overrides {
					if o.Matcher.ID == "byFrameRefID" && o.Matcher.Options == tg.RefID {
						for _, pr := range o.Properties {
							props[pr.ID] = pr.Value
						}
					}
				}
				assert.Equal(t, "percent", props["unit"], "%s %q target %s (%s): a percent series beside %q needs unit percent",
					name, p.Title, tg.RefID, tg.Expr, p.FieldConfig.Defaults.Unit)
				assert.Equal(t, "right", props["custom.axisPlacement"], "%s %q target %s: and its own axis", name, p.Title, tg.RefID)
				checked++
			}
		}
	}
	assert.GreaterOrEqual(t, checked, 1, "the overview's CPU panel mixes cores and percent")
}
