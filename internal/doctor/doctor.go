// Package doctor automates the seed guide's troubleshooting section: each
// check inspects one link of the GPU autoscaling loop (exporter → Prometheus
// → prometheus-adapter → custom.metrics.k8s.io → HPA) and reports PASS, WARN
// or FAIL together with the fix to apply.
package doctor

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/client-go/kubernetes"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"
	cmclient "k8s.io/metrics/pkg/client/custom_metrics"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/textfmt"
)

// Status is a check's outcome.
type Status string

// Outcomes, from best to worst.
const (
	Pass Status = "PASS"
	Warn Status = "WARN"
	Fail Status = "FAIL"
)

// Check is one diagnosis.
type Check struct {
	// ID groups checks of the same kind (e.g. "hpa-scaling-active").
	ID string `json:"id"`
	// Subject is what was checked (an APIService, an HPA, a node…).
	Subject string `json:"subject"`
	Status  Status `json:"status"`
	// Detail says what was found.
	Detail string `json:"detail"`
	// Fix says what to do; empty for PASS.
	Fix string `json:"fix,omitempty"`
}

// Report is the machine-readable form of a run (`-o json|yaml`).
type Report struct {
	Checks  []Check `json:"checks"`
	Summary Summary `json:"summary"`
}

// Summary counts the checks by status.
type Summary struct {
	Passed   int `json:"passed"`
	Warnings int `json:"warnings"`
	Failed   int `json:"failed"`
}

// NewReport wraps checks with their counts.
func NewReport(checks []Check) Report {
	n := Count(checks)
	if checks == nil {
		checks = []Check{}
	}
	return Report{Checks: checks, Summary: Summary{Passed: n[Pass], Warnings: n[Warn], Failed: n[Fail]}}
}

// Defaults.
const (
	DefaultExporterJob   = contract.ExporterJob
	DefaultFlapThreshold = 6
	// KwokNodeAnnotation marks kwok's fake nodes, where pods never really run.
	KwokNodeAnnotation = "kwok.x-k8s.io/node"
)

// Config is what the checks need. Kube, Aggregator and CustomMetrics are
// required; Prometheus is optional (the checks that need it WARN without it).
type Config struct {
	Namespace string
	Release   string

	Kube          kubernetes.Interface
	Aggregator    aggregator.Interface
	CustomMetrics cmclient.CustomMetricsClient
	// Prometheus is the Prometheus the adapter reads (nil: not checked).
	Prometheus promv1.API
	// PrometheusURL is shown in messages; optional.
	PrometheusURL string

	// ExporterJob is the scrape job of the exporters (regular expression).
	ExporterJob string
	// GPUNodeSelector optionally selects more GPU nodes: nodes that report
	// nvidia.com/gpu (or MIG) capacity always count; a selector adds nodes
	// whose device plugin has not advertised them yet.
	GPUNodeSelector string
	// FlapThreshold is the most replica changes per hour per HPA that are not
	// called flapping.
	FlapThreshold int
	// Now returns the current time (tests pin it).
	Now func() time.Time
}

func (c Config) withDefaults() (Config, error) {
	if c.Kube == nil || c.Aggregator == nil || c.CustomMetrics == nil {
		return c, fmt.Errorf("doctor: Config needs Kube, Aggregator and CustomMetrics clients")
	}
	if c.Namespace == "" {
		c.Namespace = contract.DefaultNamespace
	}
	if c.Release == "" {
		c.Release = contract.DefaultRelease
	}
	if c.ExporterJob == "" {
		c.ExporterJob = DefaultExporterJob
	}
	if c.FlapThreshold <= 0 {
		c.FlapThreshold = DefaultFlapThreshold
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// Run performs every check in order. The error is reserved for a broken
// Config or a cancelled context; problems in the cluster are FAIL checks.
func Run(ctx context.Context, cfg Config) ([]Check, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, exporterNamespace: cfg.Namespace}
	steps := []func(context.Context) error{
		r.checkAPIServices,
		r.checkHPAMetrics,
		r.checkAdapterPrometheus,
		r.checkScalingActive,
		r.checkExporters,
		r.checkPodLabels,
		r.checkNVML,
		r.checkKubeStateMetrics,
		r.checkServiceMapping,
		r.checkFlapping,
	}
	for _, step := range steps {
		if err := ctx.Err(); err != nil {
			return r.checks, fmt.Errorf("doctor interrupted: %w", err)
		}
		if err := step(ctx); err != nil {
			return r.checks, err
		}
	}
	return r.checks, nil
}

// Failed reports whether any check failed.
func Failed(checks []Check) bool {
	for _, c := range checks {
		if c.Status == Fail {
			return true
		}
	}
	return false
}

// Count returns how many checks have each status.
func Count(checks []Check) map[Status]int {
	out := map[Status]int{}
	for _, c := range checks {
		out[c.Status]++
	}
	return out
}

// Render writes the checks as a table, each non-passing one followed by its fix.
func Render(w io.Writer, checks []Check) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tCHECK\tSUBJECT\tDETAIL")
	for _, c := range checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Status, c.ID, c.Subject, textfmt.OneLine(c.Detail))
		if c.Status != Pass && c.Fix != "" {
			fmt.Fprintf(tw, "\t\t\tfix: %s\n", textfmt.OneLine(c.Fix))
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("render checks: %w", err)
	}
	n := Count(checks)
	_, err := fmt.Fprintf(w, "\n%d passed, %d warnings, %d failed\n", n[Pass], n[Warn], n[Fail])
	return err
}

// runner accumulates checks and shares what earlier checks learned.
type runner struct {
	cfg    Config
	checks []Check
	// metric query outcomes of checkHPAMetrics, used by checkAdapterPrometheus.
	metricQueries   int
	metricSuccesses int
	promFetchErrors []string
	customAvailable bool
	hpaCache        []autoscalingv2.HorizontalPodAutoscaler
	// exporterNamespace is where checkExporters found the exporter
	// DaemonSet (default: the release namespace); later hints use it.
	exporterNamespace string
	promBroken        bool
}

func (r *runner) add(c Check) { r.checks = append(r.checks, c) }

func (r *runner) pass(id, subject, detail string) {
	r.add(Check{ID: id, Subject: subject, Status: Pass, Detail: detail})
}

func (r *runner) warn(id, subject, detail, fix string) {
	r.add(Check{ID: id, Subject: subject, Status: Warn, Detail: detail, Fix: fix})
}

func (r *runner) fail(id, subject, detail, fix string) {
	r.add(Check{ID: id, Subject: subject, Status: Fail, Detail: detail, Fix: fix})
}
