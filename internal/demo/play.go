package demo

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"

	"github.com/medical-kg/gpu-autoscaling/internal/hpastatus"
)

func (d *demoRun) setLoad(level float64, targets []Target) {
	for i, t := range targets {
		d.plane.SetDemand(t.Service, t.Demand(d.sc.Services[i].Load(level)))
	}
}

// waitMetrics puts the base load on and waits until every HPA reads its
// driven metric and runs the base's replicas: the scenario's clock starts
// from a steady state.
func (d *demoRun) waitMetrics(ctx context.Context, targets []Target) error {
	d.step("base load on; waiting until every HPA reads its metric (exporter → Prometheus → adapter → HPA)")
	t0 := time.Now()
	d.setLoad(0, targets)
	cs, err := d.sb.Clientset()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	lastReport := time.Time{}
	waiting := ""
	for {
		if o, err := observe(ctx, cs); err != nil {
			waiting = err.Error()
		} else {
			var pending []string
			for i, x := range o.sample(0, "warm-up", 0, d.sc, targets) {
				t := targets[i]
				h := o.hpas[t.Service]
				if h == nil {
					pending = append(pending, t.Service+": no HPA")
					continue
				}
				active, _ := hpastatus.FindCondition(h, autoscalingv2.ScalingActive)
				switch {
				case active.Status != corev1.ConditionTrue:
					pending = append(pending, strings.TrimSpace(fmt.Sprintf("%s: ScalingActive %s %s", d.sc.Services[i].Short, active.Status, active.Reason)))
				case math.IsNaN(x.Current):
					pending = append(pending, fmt.Sprintf("%s: no %s value yet", d.sc.Services[i].Short, t.Driver))
				case x.Replicas != x.Expected || x.Ready != x.Expected:
					pending = append(pending, fmt.Sprintf("%s: %d replicas (%d running), want %d", d.sc.Services[i].Short, x.Replicas, x.Ready, x.Expected))
				}
			}
			if len(pending) == 0 {
				d.logf("every HPA reads its metric and runs its minimum (%s after install)", time.Since(t0).Round(time.Second))
				d.timed("metrics flowing", t0)
				return nil
			}
			waiting = strings.Join(pending, "; ")
		}
		if time.Since(lastReport) >= d.profile.HPASyncPeriod {
			d.logf("waiting: %s", waiting)
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the HPAs did not read their metrics within 3 minutes: %s (run `bin/deploy-auto-scaling --action doctor --kubeconfig %s --prometheus-url %s` with --keep)",
				waiting, d.sb.Kubeconfig(), d.sb.PrometheusURL())
		case <-time.After(time.Second):
		}
	}
}

// play runs the scenario, sampling every second and printing a line per
// HPA sync period.
func (d *demoRun) play(ctx context.Context, targets []Target) (Record, error) {
	d.step("scenario, on its own clock (" + LiveLegend + ")")
	cs, err := d.sb.Clientset()
	if err != nil {
		return Record{}, err
	}
	rec := Record{Started: time.Now()}
	for i, t := range targets {
		rec.Series = append(rec.Series, Series{Load: d.sc.Services[i], Target: t})
	}
	player := NewPlayer(d.sc)
	start := rec.Started
	converged := false
	printed := false
	var lastPrint time.Duration
	lastPhase := ""
	failures := 0
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		at := time.Since(start)
		pos := player.Step(at, converged)
		if pos.Done {
			break
		}
		d.setLoad(pos.Level, targets)
		if pos.Phase != lastPhase {
			// On the scenario's clock, like the live lines.
			d.mu.Lock()
			fmt.Fprintf(d.out, "%5s ── %s\n", strings.TrimSpace(clock(at)), phaseText(d.sc, pos.Phase))
			d.mu.Unlock()
			lastPhase = pos.Phase
		}
		o, err := observe(ctx, cs)
		switch {
		case err != nil && ctx.Err() != nil:
			return rec, ctx.Err()
		case err != nil:
			failures++
			if failures >= 10 {
				return rec, fmt.Errorf("observe the cluster: %w", err)
			}
			d.logf("observe: %v", err)
		default:
			failures = 0
			latest := o.sample(at, pos.Phase, pos.Level, d.sc, targets)
			for i := range latest {
				rec.Series[i].Samples = append(rec.Series[i].Samples, latest[i])
			}
			converged = Converged(latest)
			if !printed || at-lastPrint >= d.profile.HPASyncPeriod {
				d.mu.Lock()
				fmt.Fprintln(d.out, LiveLine(at, pos.Phase, rec.Series, latest))
				d.mu.Unlock()
				lastPrint, printed = at, true
			}
		}
		select {
		case <-ctx.Done():
			return rec, fmt.Errorf("scenario: %w", ctx.Err())
		case <-tick.C:
		}
	}
	rec.Phases = player.Marks()
	rec.TimedOut = player.TimedOut()
	d.timed("scenario", start)
	return rec, nil
}

func phaseText(sc Scenario, name string) string {
	for _, p := range sc.Phases {
		if p.Name != name {
			continue
		}
		what := map[bool]string{true: "peak", false: "base"}[p.To == 1]
		switch {
		case p.Settle:
			return fmt.Sprintf("%s: hold the %s load until every service runs the replicas it implies (at least %s, at most %s)",
				p.Name, what, p.Duration.Round(time.Second), p.MaxSettle)
		default:
			return fmt.Sprintf("%s: load to the %s over %s", p.Name, what, p.Duration.Round(time.Second))
		}
	}
	return name
}
