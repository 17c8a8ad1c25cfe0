package demo

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"helm.sh/helm/v3/pkg/chartutil"
	"sigs.k8s.io/yaml"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/repo"
	"github.com/medical-kg/gpu-autoscaling/internal/sandbox"
)

// Profile is the clocks and behavior a demo run uses.
type Profile struct {
	Name string
	// HPASyncPeriod is kube-controller-manager's
	// --horizontal-pod-autoscaler-sync-period.
	HPASyncPeriod time.Duration
	// Scenario is the load the profile plays.
	Scenario Scenario
	// production layers the seed's timing over values/sandbox.yaml.
	production bool
}

// kcmHPASyncPeriod is kube-controller-manager's default HPA sync period.
const kcmHPASyncPeriod = 15 * time.Second

// CompressedProfile is `make demo`: values/sandbox.yaml's compressed
// windows (scale up 10 s, down 30 s, 15 s policy periods), a 5 s exporter
// interval and HPA sync.
func CompressedProfile() Profile {
	return Profile{Name: "compressed", HPASyncPeriod: sandbox.CompressedHPASyncPeriod, Scenario: DefaultScenario()}
}

// ProductionProfile is `make bench-production`: the seed's behavior as the
// chart ships it (scale up: 300 s window, +100 % or +2 pods per 60 s; scale
// down: 600 s window, −50 % per 60 s), the exporter's collection interval
// of values/production.yaml (30 s) and kube-controller-manager's default
// HPA sync (15 s), in real time. The sandbox keeps its 5 s scrape interval.
func ProductionProfile() Profile {
	return Profile{Name: "production", HPASyncPeriod: kcmHPASyncPeriod, Scenario: ProductionScenario(), production: true}
}

// ProductionScenario is DefaultScenario's load with phases long enough for
// the seed's windows. The scale-up waits a whole 300 s window per step where
// the driven metric saturates: a GPU reads at most 100 % against a target of
// 80 %, so each recommendation asks for at most 1.25× the pods running, and
// the window keeps the lowest recommendation of the last 300 s — the one made
// before the previous step. embedding's 2 → 5 is then three windows
// (2 → 3 → 4 → 5, about 18 minutes with the metric path); the peak waits up
// to 25. The scale-down waits 600 s, then −50 % per 60 s.
func ProductionScenario() Scenario {
	sc := DefaultScenario()
	sc.Phases = []Phase{
		{Name: "baseline", To: 0, Duration: 30 * time.Second},
		{Name: "ramp-up", To: 1, Duration: 60 * time.Second},
		{Name: "peak", To: 1, Duration: 60 * time.Second, Settle: true, MaxSettle: 25 * time.Minute},
		{Name: "ramp-down", To: 0, Duration: 60 * time.Second},
		{Name: "cool-down", To: 0, Duration: 60 * time.Second, Settle: true, MaxSettle: 18 * time.Minute},
		{Name: "settled", To: 0, Duration: 60 * time.Second},
	}
	return sc
}

// valuesOverlay writes, into dir, the values the profile layers over
// values/sandbox.yaml, and returns the file ("" for none). The production
// overlay takes each fact from its one owner: the behavior from the chart's
// own defaults, the collection interval from values/production.yaml.
func (p Profile) valuesOverlay(dir string) (string, error) {
	if !p.production {
		return "", nil
	}
	root, err := repo.Root()
	if err != nil {
		return "", err
	}
	defaults, err := chartutil.ReadValuesFile(filepath.Join(root, contract.DefaultChart, chartutil.ValuesfileName))
	if err != nil {
		return "", fmt.Errorf("read the chart's default values: %w", err)
	}
	prodPath := filepath.Join(root, "values", "production.yaml")
	prod, err := chartutil.ReadValuesFile(prodPath)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", prodPath, err)
	}
	b, err := defaults.Table("behavior")
	if err != nil {
		return "", fmt.Errorf("the chart's default values have no behavior: %w", err)
	}
	interval, err := prod.PathValue("exporter.collectionInterval")
	if err != nil {
		return "", fmt.Errorf("%s sets no exporter.collectionInterval: %w", prodPath, err)
	}
	data, err := yaml.Marshal(map[string]any{"behavior": b.AsMap(), "exporter": map[string]any{"collectionInterval": interval}})
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	path := filepath.Join(dir, "production-timing.yaml")
	header := "# The production profile's values over values/sandbox.yaml (written by the demo): the chart's default\n# behavior (the seed's) and values/production.yaml's collection interval.\n"
	if err := os.WriteFile(path, append([]byte(header), data...), 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}
