package deploy

import (
	"errors"
	"strings"
	"testing"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
)

// The chart's cross-field rules are template `fail`s, which `helm lint` reports only as INFO. The deploy
// tool is a gate for them: Prepare renders the real chart with the Helm SDK and refuses before a Plan
// exists, and nothing writes to a cluster without a Plan (Deploy takes one; operator.Run prepares it
// before it even connects).
func TestPrepareRefusesTheChartsCrossFieldRules(t *testing.T) {
	cases := []struct {
		name, values, want string
	}{
		{"min above max", "services:\n  embedding-service:\n    minReplicas: 12\n",
			"services.embedding-service: minReplicas (12) is greater than maxReplicas (10)"},
		{"two HPAs on one Deployment", "services:\n  ocr-service:\n    scaleTargetRef: {name: embedding-service}\n    targets: {cpuUtilization: 60}\n",
			"services.embedding-service and services.ocr-service both scale Deployment/embedding-service"},
		{"timeout not shorter than the interval", "exporter:\n  collectionInterval: 1s\n",
			"exporter.podResources.timeout=2s must be shorter than exporter.collectionInterval=1s"},
		{"unknown exporter flag", "exporter:\n  extraArgs: [\"--web.telemetry-path=/m\"]\n",
			"gpu-metrics-exporter has no flag --web.telemetry-path"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := Prepare(Options{Chart: contract.DefaultChart, ValueFiles: []string{writeFile(t, "values.yaml", tc.values)}})
			if err == nil {
				t.Fatalf("Prepare accepted values the chart must refuse:\n%s", tc.values)
			}
			if plan != nil {
				t.Errorf("Prepare returned a plan with its error")
			}
			if !errors.Is(err, ErrInvalidInput) {
				t.Errorf("error does not wrap ErrInvalidInput: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}
