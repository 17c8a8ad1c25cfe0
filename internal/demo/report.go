package demo

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/medical-kg/gpu-autoscaling/internal/cluster"
	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/dashboards"
	"github.com/medical-kg/gpu-autoscaling/internal/doctor"
	"github.com/medical-kg/gpu-autoscaling/internal/repo"
)

// report prints the summary and writes the plot, the samples and the summary.
func (d *demoRun) report(rec Record, verdicts []Verdict) error {
	d.step("summary (replicas: at the start → peak → end)")
	var buf bytes.Buffer
	if err := RenderSummary(&buf, rec, verdicts); err != nil {
		return err
	}
	d.mu.Lock()
	fmt.Fprint(d.out, buf.String())
	d.mu.Unlock()
	if err := os.MkdirAll(d.o.Out, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", d.o.Out, err)
	}
	plotPath := filepath.Join(d.o.Out, "scaling.png")
	if err := WritePlotFile(plotPath, rec); err != nil {
		return err
	}
	var csvBuf bytes.Buffer
	if err := rec.WriteCSV(&csvBuf); err != nil {
		return err
	}
	csvPath := filepath.Join(d.o.Out, "samples.csv")
	if err := os.WriteFile(csvPath, csvBuf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", csvPath, err)
	}
	if err := os.WriteFile(filepath.Join(d.o.Out, "summary.txt"), buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	w, h := PlotSize(len(rec.Series))
	d.logf("plot: %s (%d×%d px); samples: %s", plotPath, w, h, csvPath)
	return nil
}

// doctor runs the operator tooling's doctor against the sandbox.
func (d *demoRun) doctor(ctx context.Context, rec Record) (bool, error) {
	d.step("doctor (the seed's troubleshooting checks, as `deploy-auto-scaling --action doctor` runs them)")
	t0 := time.Now()
	c, err := cluster.Connect(ctx, cluster.Options{Kubeconfig: d.sb.Kubeconfig(), Namespace: namespace})
	if err != nil {
		return false, fmt.Errorf("doctor: %w", err)
	}
	prom, err := promapi.NewClient(promapi.Config{Address: d.sb.PrometheusURL()})
	if err != nil {
		return false, fmt.Errorf("doctor: Prometheus client: %w", err)
	}
	// The scenario scales each HPA up and down on purpose: as many replica
	// changes as its peak allows are not flapping — one step per pod each
	// way, plus two: kube-state-metrics' changes() also counts the HPA's first
	// status (0 → min), and one of headroom (a run counted 7 for embedding's
	// 2→5→2, where 6 was the limit).
	flap := doctor.DefaultFlapThreshold
	for _, s := range rec.Series {
		flap = max(flap, 2*(s.Target.Expected(s.Load.Peak)-s.Target.Min)+2)
	}
	checks, err := doctor.Run(ctx, doctor.Config{Namespace: namespace, Release: contract.DefaultRelease,
		Kube: c.Kube, Aggregator: c.Aggregator, CustomMetrics: c.CustomMetrics,
		Prometheus: promv1.NewAPI(prom), PrometheusURL: d.sb.PrometheusURL(), FlapThreshold: flap})
	var buf bytes.Buffer
	if rerr := doctor.Render(&buf, checks); rerr != nil {
		return false, rerr
	}
	d.mu.Lock()
	fmt.Fprint(d.out, buf.String())
	d.mu.Unlock()
	if werr := os.WriteFile(filepath.Join(d.o.Out, "doctor.txt"), buf.Bytes(), 0o644); werr != nil {
		return false, fmt.Errorf("write doctor report: %w", werr)
	}
	if err != nil {
		return false, err
	}
	d.timed("doctor", t0)
	return !doctor.Failed(checks), nil
}

// panels prints, per dashboard panel, how many series its queries return
// on the sandbox now (variables filled in as Grafana would), so a user sees
// that every panel they open in Grafana has data. It returns how many
// panels have none.
func (d *demoRun) panels(ctx context.Context) (int, error) {
	d.step("dashboards: series per panel (charts/gpu-autoscaling/dashboards, $namespace=" + namespace + ", $service and $node All, $__rate_interval 1m)")
	root, err := repo.Root()
	if err != nil {
		return 0, err
	}
	all, err := dashboards.LoadDir(filepath.Join(root, "charts", "gpu-autoscaling", "dashboards"))
	if err != nil {
		return 0, err
	}
	c, err := promapi.NewClient(promapi.Config{Address: d.sb.PrometheusURL()})
	if err != nil {
		return 0, fmt.Errorf("dashboards: Prometheus client: %w", err)
	}
	prom := promv1.NewAPI(c)
	var results []dashboards.Result
	now := time.Now()
	for _, db := range all {
		values, err := dashboards.Values(ctx, prom, db, map[string][]string{"namespace": {namespace}}, now)
		if err != nil {
			return 0, err
		}
		results = append(results, dashboards.Evaluate(ctx, prom, db, values, dashboards.GrafanaDefaults, now)...)
	}
	var buf bytes.Buffer
	if err := dashboards.Render(&buf, results); err != nil {
		return 0, err
	}
	empty := len(dashboards.Empty(results))
	fmt.Fprintf(&buf, "\n%d panels, %d without data\n", len(results), empty)
	d.mu.Lock()
	fmt.Fprint(d.out, buf.String())
	d.mu.Unlock()
	if err := os.WriteFile(filepath.Join(d.o.Out, "panels.txt"), buf.Bytes(), 0o644); err != nil {
		return 0, fmt.Errorf("write panels report: %w", err)
	}
	return empty, nil
}

func (d *demoRun) teardown() {
	d.step("teardown")
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if d.plane != nil {
		d.plane.Close()
	}
	if err := d.sb.Down(ctx); err != nil {
		d.logf("teardown: %v (stop what is left with: go run ./scripts/cmd/sandbox down --dir %s)", err, d.o.Dir)
		return
	}
	d.timed("teardown", t0)
	d.logf("sandbox stopped (logs kept in %s); total %s", filepath.Join(d.sb.Dir(), "logs"), time.Since(d.start).Round(time.Second))
}

// keepRunning leaves the cluster up at the base load and says how to reach
// it; nothing of it lives in this process any more.
func (d *demoRun) keepRunning() {
	if d.plane != nil {
		d.plane.Close()
	}
	kc := d.sb.Kubeconfig()
	d.step("the sandbox keeps running (--keep)")
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, `  export KUBECONFIG=%s
  bin/kubectl get pods -A -o wide
  bin/deploy-auto-scaling --action status
  bin/deploy-auto-scaling --action doctor --prometheus-url %s
  go run ./scripts/cmd/sandbox down --dir %s     # stop it
(bin/deploy-auto-scaling comes from `+"`make build`"+`; `+"`go run ./scripts/cmd/deploy-auto-scaling`"+` works as well.)
`, kc, d.sb.PrometheusURL(), d.o.Dir)
}
