package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/gpuplane"
	"github.com/medical-kg/gpu-autoscaling/internal/sandbox"
)

// The sandbox's scrape interval (every profile keeps it; the HPA sync
// period is the profile's).
const (
	scrapeInterval = sandbox.CompressedScrapeInterval
	// downscaleStabilization is kcm's default for HPAs without behavior; the
	// chart always renders behavior, whose window wins.
	downscaleStabilization = 30 * time.Second
	namespace              = contract.DefaultNamespace
)

// demoRun is one run of the demo.
type demoRun struct {
	o       Options
	profile Profile
	sc      Scenario
	out     io.Writer
	start   time.Time
	mu      sync.Mutex

	// parent is the caller's context: its end is an interruption (the run's
	// own timeout is a child of it).
	parent  context.Context
	sb      *sandbox.Sandbox
	plane   *gpuplane.Plane
	timings []string
	// helmLog receives helm's output (closed when run returns).
	helmLog *os.File
}

func (d *demoRun) logf(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "[%s] "+format+"\n", append([]any{strings.TrimSpace(clock(time.Since(d.start)))}, args...)...)
}

func (d *demoRun) step(what string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "\n==> [%s] %s\n", strings.TrimSpace(clock(time.Since(d.start))), what)
}

func (d *demoRun) timed(name string, since time.Time) {
	d.timings = append(d.timings, fmt.Sprintf("%s %s", name, time.Since(since).Round(time.Second)))
}

func (d *demoRun) wasInterrupted() bool { return d.parent.Err() != nil }

func (d *demoRun) run(ctx context.Context) (code Outcome) {
	defer func() {
		if d.helmLog != nil {
			d.helmLog.Close()
		}
	}()
	defer func() {
		if d.sb == nil {
			return
		}
		if d.o.Keep {
			d.keepRunning()
			return
		}
		d.teardown()
		if d.wasInterrupted() {
			code = Interrupted
		}
	}()
	if err := d.setUp(ctx); err != nil {
		return d.fail(ctx, err, Failed)
	}
	targets, err := d.targets(ctx)
	if err != nil {
		return d.fail(ctx, err, Misfit)
	}
	if err := d.waitMetrics(ctx, targets); err != nil {
		return d.fail(ctx, err, Failed)
	}
	rec, err := d.play(ctx, targets)
	if err != nil {
		return d.fail(ctx, err, Failed)
	}
	verdicts := JudgeAll(rec)
	if err := d.report(rec, verdicts); err != nil {
		return d.fail(ctx, err, Failed)
	}
	doctorOK, err := d.doctor(ctx, rec)
	if err != nil {
		return d.fail(ctx, err, Failed)
	}
	emptyPanels, err := d.panels(ctx)
	if err != nil {
		return d.fail(ctx, err, Failed)
	}
	d.step("result")
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "timings: %s\n", strings.Join(d.timings, ", "))
	switch {
	case AllOK(verdicts) && doctorOK && emptyPanels == 0:
		fmt.Fprintf(d.out, "demo PASSED: every service scaled up and back down exactly as its load implied; doctor found no failure; every dashboard panel has data.\n")
		return Passed
	case !AllOK(verdicts):
		fmt.Fprintf(d.out, "demo FAILED: a service did not scale as its load implied (see the summary above; logs in %s).\n", filepath.Join(d.o.Dir, "logs"))
	case !doctorOK:
		fmt.Fprintf(d.out, "demo FAILED: doctor reported failing checks (see above).\n")
	default:
		fmt.Fprintf(d.out, "demo FAILED: %d dashboard panels have no data (see the table above).\n", emptyPanels)
	}
	return Failed
}

func (d *demoRun) fail(ctx context.Context, err error, code Outcome) Outcome {
	if ctx.Err() != nil && d.wasInterrupted() {
		d.logf("interrupted: %v", err)
		return Interrupted
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "demo FAILED: %v\n", err)
	if d.sb != nil {
		fmt.Fprintf(d.out, "component logs: %s\n", filepath.Join(d.sb.Dir(), "logs"))
	}
	return code
}
