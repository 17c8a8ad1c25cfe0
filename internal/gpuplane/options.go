package gpuplane

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"time"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/provider"
	"github.com/medical-kg/gpu-autoscaling/internal/repo"
)

// Options configure the GPU plane: the charts, their values on top of the
// provider's, and how the exporter is scraped.
type Options struct {
	// ChartDir is the umbrella chart (default <repo>/charts/gpu-autoscaling).
	ChartDir string
	// ValuesFiles come after the provider's values files.
	ValuesFiles []string
	// SetValues come after the provider's --set values.
	SetValues map[string]string
	// Release and Namespace (defaults gpu-autoscaling, medical-kg).
	Release, Namespace string
	// NamespaceLabels are put on the release namespace before the install
	// (created when missing), e.g. Pod Security's enforce label.
	NamespaceLabels map[string]string
	// ExporterNamespace puts the exporter DaemonSet and the fake device
	// plugin in a namespace of their own, created when missing and labelled
	// Pod Security privileged (both need hostPath and root); empty: the
	// release namespace.
	ExporterNamespace string
	// WorkloadsChartDir is the stand-in GPU services chart (default
	// <repo>/charts/gpu-services); SkipWorkloads leaves it out.
	WorkloadsChartDir    string
	WorkloadsValuesFiles []string
	WorkloadsRelease     string
	SkipWorkloads        bool
	// ServiceMonitor renders the exporter's ServiceMonitor (the provider
	// makes the CRD served first) instead of scrape annotations.
	ServiceMonitor bool
	// ScrapeInterval is the ServiceMonitor's interval (with ServiceMonitor).
	ScrapeInterval time.Duration
	// Timeout bounds the installation and each wait (default 4 minutes).
	Timeout time.Duration
	// Logf receives progress lines (default: discard).
	Logf func(format string, args ...any)
}

// chart is one chart to install with its merged values.
type chart struct {
	dir, release string
	files        []string
	set          map[string]string
}

// resolve fills the defaults and merges the provider's values in: its
// files first, then the options' (later files win, as with helm -f).
func (o Options) resolve(v provider.Values) (Options, chart, *chart, error) {
	root, err := repo.Root()
	if err != nil {
		return o, chart{}, nil, err
	}
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(root, p)
	}
	if o.ChartDir == "" {
		o.ChartDir = contract.DefaultChart
	}
	if o.WorkloadsChartDir == "" {
		o.WorkloadsChartDir = contract.WorkloadsChart
	}
	setDefault(&o.Release, contract.DefaultRelease)
	setDefault(&o.Namespace, contract.DefaultNamespace)
	setDefault(&o.WorkloadsRelease, contract.WorkloadsRelease)
	if o.Timeout == 0 {
		o.Timeout = 4 * time.Minute
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	main := chart{dir: abs(o.ChartDir), release: o.Release, set: map[string]string{}}
	maps.Copy(main.set, v.Set)
	if o.ServiceMonitor {
		main.set["exporter.serviceMonitor.enabled"] = "true"
		if o.ScrapeInterval > 0 {
			main.set["exporter.serviceMonitor.interval"] = o.ScrapeInterval.String()
			main.set["exporter.serviceMonitor.scrapeTimeout"] = (o.ScrapeInterval * 4 / 5).String()
		}
	}
	if o.ExporterNamespace != "" {
		main.set["exporter.namespaceOverride"] = o.ExporterNamespace
	}
	maps.Copy(main.set, o.SetValues)
	for _, f := range append(append([]string(nil), v.Files...), o.ValuesFiles...) {
		main.files = append(main.files, abs(f))
	}
	var workloads *chart
	if !o.SkipWorkloads {
		workloads = &chart{dir: abs(o.WorkloadsChartDir), release: o.WorkloadsRelease, set: map[string]string{}}
		maps.Copy(workloads.set, v.WorkloadsSet)
		if o.ExporterNamespace != "" {
			workloads.set["devicePlugin.namespace"] = o.ExporterNamespace
		}
		for _, f := range append(append([]string(nil), v.WorkloadsFiles...), o.WorkloadsValuesFiles...) {
			workloads.files = append(workloads.files, abs(f))
		}
	}
	for _, c := range []*chart{&main, workloads} {
		if c == nil {
			continue
		}
		for _, p := range append([]string{c.dir}, c.files...) {
			if _, err := os.Stat(p); err != nil {
				return o, chart{}, nil, fmt.Errorf("chart input %s: %w", p, err)
			}
		}
	}
	return o, main, workloads, nil
}

func setDefault(s *string, v string) {
	if *s == "" {
		*s = v
	}
}
