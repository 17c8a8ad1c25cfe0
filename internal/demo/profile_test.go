package demo

import (
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chartutil"
)

// The production overlay carries the chart's default behavior (the seed's
// windows) and values/production.yaml's collection interval; the compressed
// profile adds nothing over values/sandbox.yaml.
func TestProductionOverlay(t *testing.T) {
	if path, err := CompressedProfile().valuesOverlay(t.TempDir()); err != nil || path != "" {
		t.Fatalf("compressed overlay %q, %v; want none", path, err)
	}
	path, err := ProductionProfile().valuesOverlay(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v, err := chartutil.ReadValuesFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]any{
		"behavior.scaleUp.stabilizationWindowSeconds":   float64(300),
		"behavior.scaleDown.stabilizationWindowSeconds": float64(600),
		"exporter.collectionInterval":                   "30s",
	} {
		got, err := v.PathValue(key)
		if err != nil || got != want {
			t.Errorf("%s = %v (%v), want %v", key, got, err, want)
		}
	}
	if sc := ProductionProfile().Scenario; sc.Validate() != nil || sc.MinDuration() < 5*time.Minute {
		t.Errorf("production scenario: %v, min %s: want valid and longer than the 300 s scale-up window", sc.Validate(), sc.MinDuration())
	}
}
