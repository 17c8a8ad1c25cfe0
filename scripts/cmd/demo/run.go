package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/hpastatus"
	"github.com/medical-kg/gpu-autoscaling/internal/prereq"
	"github.com/medical-kg/gpu-autoscaling/internal/repo"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/medical-kg/gpu-autoscaling/internal/cluster"
	"github.com/medical-kg/gpu-autoscaling/internal/demo"
	"github.com/medical-kg/gpu-autoscaling/internal/doctor"
	"github.com/medical-kg/gpu-autoscaling/internal/sandbox"
)

// Exit codes.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// The sandbox's compressed clocks. values/sandbox.yaml compresses the HPA
// behavior windows (scale up 10 s, down 30 s, 15 s policy periods) and the
// exporter's collection interval (5 s) to match.
const (
	hpaSyncPeriod  = 5 * time.Second
	scrapeInterval = 5 * time.Second
	// downscaleStabilization is kcm's default for HPAs without behavior; the
	// chart always renders behavior, whose window wins.
	downscaleStabilization = 30 * time.Second
	gpusPerNode            = 8
	namespace              = contract.DefaultNamespace
)

type options struct {
	out, dir string
	keep     bool
	speed    float64
	nodes    int
	timeout  time.Duration
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	root, rootErr := repo.Root()
	defOut, defDir := filepath.Join("out", "demo"), ".sandbox"
	if rootErr == nil {
		defOut, defDir = filepath.Join(root, "out", "demo"), filepath.Join(root, ".sandbox")
	}
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.out, "out", defOut, "folder for the plot (scaling.png), the samples (samples.csv) and the reports")
	fs.StringVar(&o.dir, "dir", defDir, "sandbox state folder (certificates, kubeconfig, etcd data, logs)")
	fs.BoolVar(&o.keep, "keep", false, "leave the sandbox running at the end and print how to reach it")
	fs.Float64Var(&o.speed, "scenario-speed", 1, "play the scenario's ramps and holds this many times faster (waits for the HPAs are not shortened)")
	fs.IntVar(&o.nodes, "nodes", 0, "fake GPU nodes with 8 GPUs each (0: enough for the scenario's peak plus headroom)")
	fs.DurationVar(&o.timeout, "timeout", 20*time.Minute, "give up after this long in all")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: demo [--out DIR] [--dir DIR] [--keep] [--scenario-speed F] [--nodes N] [--timeout D]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q (the demo takes flags only)", fs.Args())
	}
	if o.nodes < 0 {
		return o, fmt.Errorf("--nodes %d: want 0 (automatic) or more", o.nodes)
	}
	if o.timeout <= 0 {
		return o, fmt.Errorf("--timeout %s: want a positive duration", o.timeout)
	}
	return o, nil
}

// missingBinaries lists the binaries the demo needs that are not built yet.
func missingBinaries() []string {
	var missing []string
	for _, b := range append(append([]string(nil), sandbox.ClusterBinaries...), prereq.Adapter, prereq.Helm) {
		if _, err := prereq.FindBinary(b); err != nil {
			missing = append(missing, b)
		}
	}
	return missing
}

// nodesFor is enough fake GPU nodes for every service's peak (one GPU per
// pod, as the stand-in services request) plus two spare GPUs.
func nodesFor(sc demo.Scenario) int {
	gpus := 2
	for _, l := range sc.Services {
		gpus += int(math.Ceil(l.Peak))
	}
	return max(2, (gpus+gpusPerNode-1)/gpusPerNode)
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintln(stderr, "demo:", err)
		return exitUsage
	}
	if missing := missingBinaries(); len(missing) > 0 {
		bin, _ := prereq.BinDir()
		fmt.Fprintf(stderr, "demo: %s not built in %s: run `make cluster-tools` (helm and kubectl: `make tools`); `make demo` runs both first\n",
			strings.Join(missing, ", "), bin)
		return exitUsage
	}
	sc, err := demo.DefaultScenario().Scaled(o.speed)
	if err == nil {
		err = sc.Validate()
	}
	if err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return exitUsage
	}
	if o.nodes == 0 {
		o.nodes = nodesFor(sc)
	}

	// signalled ends on SIGINT/SIGTERM only; ctx also at --timeout.
	signalled, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	ctx, cancel := context.WithTimeout(signalled, o.timeout)
	defer cancel()
	d := &demoRun{o: o, sc: sc, out: stdout, start: time.Now(), signalled: signalled}
	stopSignals := d.handleSignals(interrupt, stderr)
	defer stopSignals()
	return d.run(ctx)
}

// demoRun is one run of the demo.
type demoRun struct {
	o     options
	sc    demo.Scenario
	out   io.Writer
	start time.Time
	mu    sync.Mutex

	// signalled ends on the first SIGINT/SIGTERM.
	signalled   context.Context
	sb          *sandbox.Sandbox
	plane       *sandbox.GPUPlane
	interrupted bool
	timings     []string
	// helmLog receives helm's output (closed when run returns).
	helmLog *os.File
}

func (d *demoRun) logf(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "[%s] "+format+"\n", append([]any{clock(time.Since(d.start))}, args...)...)
}

func (d *demoRun) step(what string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "\n==> [%s] %s\n", clock(time.Since(d.start)), what)
}

func (d *demoRun) timed(name string, since time.Time) {
	d.timings = append(d.timings, fmt.Sprintf("%s %s", name, time.Since(since).Round(time.Second)))
}

func clock(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// handleSignals cancels the run on the first SIGINT/SIGTERM so that it tears
// down; a further signal more than two seconds later (make and the terminal
// both deliver the first) abandons the teardown.
func (d *demoRun) handleSignals(cancel context.CancelFunc, stderr io.Writer) func() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		var first time.Time
		for {
			select {
			case <-done:
				return
			case sig := <-sigs:
				if first.IsZero() {
					first = time.Now()
					d.mu.Lock()
					d.interrupted = true
					d.mu.Unlock()
					if d.o.keep {
						fmt.Fprintf(stderr, "\ndemo: %s: stopping (--keep: the sandbox stays up)\n", sig)
					} else {
						fmt.Fprintf(stderr, "\ndemo: %s: stopping and tearing the sandbox down (signal again to abandon the teardown)\n", sig)
					}
					cancel()
					continue
				}
				if time.Since(first) > 2*time.Second {
					fmt.Fprintf(stderr, "demo: teardown abandoned; stop the sandbox with: go run ./scripts/cmd/sandbox down --dir %s\n", d.o.dir)
					os.Exit(exitInterrupted)
				}
			}
		}
	}()
	return func() { signal.Stop(sigs); close(done) }
}

func (d *demoRun) wasInterrupted() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.interrupted
}

func (d *demoRun) run(ctx context.Context) (code int) {
	defer func() {
		if d.helmLog != nil {
			d.helmLog.Close()
		}
	}()
	defer func() {
		if d.sb == nil {
			return
		}
		if d.o.keep {
			d.keepRunning()
			return
		}
		d.teardown()
		if d.wasInterrupted() {
			code = exitInterrupted
		}
	}()
	if err := d.setUp(ctx); err != nil {
		return d.fail(ctx, err, exitFailed)
	}
	targets, err := d.targets(ctx)
	if err != nil {
		return d.fail(ctx, err, exitUsage)
	}
	if err := d.waitMetrics(ctx, targets); err != nil {
		return d.fail(ctx, err, exitFailed)
	}
	rec, err := d.play(ctx, targets)
	if err != nil {
		return d.fail(ctx, err, exitFailed)
	}
	verdicts := demo.JudgeAll(rec)
	if err := d.report(rec, verdicts); err != nil {
		return d.fail(ctx, err, exitFailed)
	}
	doctorOK, err := d.doctor(ctx, rec)
	if err != nil {
		return d.fail(ctx, err, exitFailed)
	}
	d.step("result")
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "timings: %s\n", strings.Join(d.timings, ", "))
	switch {
	case demo.AllOK(verdicts) && doctorOK:
		fmt.Fprintf(d.out, "demo PASSED: every service scaled up and back down exactly as its load implied; doctor found no failure.\n")
		return exitOK
	case !demo.AllOK(verdicts):
		fmt.Fprintf(d.out, "demo FAILED: a service did not scale as its load implied (see the summary above; logs in %s).\n", filepath.Join(d.o.dir, "logs"))
	default:
		fmt.Fprintf(d.out, "demo FAILED: doctor reported failing checks (see above).\n")
	}
	return exitFailed
}

func (d *demoRun) fail(ctx context.Context, err error, code int) int {
	if ctx.Err() != nil && d.wasInterrupted() {
		d.logf("interrupted: %v", err)
		return exitInterrupted
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "demo FAILED: %v\n", err)
	if d.sb != nil {
		fmt.Fprintf(d.out, "component logs: %s\n", filepath.Join(d.sb.Dir(), "logs"))
	}
	return code
}

// setUp starts the sandbox and installs the chart and the stand-in services.
func (d *demoRun) setUp(ctx context.Context) error {
	d.step(fmt.Sprintf("sandbox up: etcd, kube-apiserver, kube-controller-manager (HPA sync %s), kube-scheduler, kwok (%d fake nodes × %d GPUs), metrics-server, Prometheus",
		hpaSyncPeriod, d.o.nodes, gpusPerNode))
	t0 := time.Now()
	sb, err := sandbox.New(sandbox.Options{Dir: d.o.dir, GPUNodes: d.o.nodes, GPUsPerNode: gpusPerNode,
		HPASyncPeriod: hpaSyncPeriod, HPADownscaleStabilization: downscaleStabilization,
		ScrapeInterval: scrapeInterval, Logf: d.logf})
	if err != nil {
		return err
	}
	upCtx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	if err := sb.Up(upCtx); err != nil {
		return fmt.Errorf("sandbox up: %w", err)
	}
	d.sb = sb
	d.timed("sandbox up", t0)

	d.step("install the chart (values/sandbox.yaml) and the stand-in GPU services (charts/gpu-services); start prometheus-adapter and one simulated GPU exporter per node")
	t0 = time.Now()
	// helm's own output (commands, NOTES) goes to a file, not between the live lines.
	if err := os.MkdirAll(d.o.out, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", d.o.out, err)
	}
	helmLogPath := filepath.Join(d.o.out, "helm.log")
	helmLog, err := os.Create(helmLogPath)
	if err != nil {
		return fmt.Errorf("create %s: %w", helmLogPath, err)
	}
	d.helmLog = helmLog
	helmLogf := func(format string, args ...any) { fmt.Fprintf(helmLog, format+"\n", args...) }
	plane, err := sb.InstallGPUPlane(ctx, sandbox.NewReporter("demo", helmLogf), sandbox.ChartOptions{})
	if err != nil {
		return fmt.Errorf("install the GPU plane (helm output: %s): %w", helmLogPath, err)
	}
	d.logf("helm output: %s", helmLogPath)
	d.plane = plane
	d.timed("chart and GPU plane", t0)
	d.logf("custom.metrics.k8s.io v1beta1 and v1beta2 Available; adapter on 127.0.0.1:%d", plane.AdapterPort())
	return nil
}

// targets reads each service's HPA and checks the scenario against it.
func (d *demoRun) targets(ctx context.Context) ([]demo.Target, error) {
	cs, err := d.sb.Clientset()
	if err != nil {
		return nil, err
	}
	d.step("the scenario, from the HPAs' own targets (load in pods' worth at the target; replicas = ceil(load) within min-max)")
	var out []demo.Target
	var errs []error
	for _, l := range d.sc.Services {
		hpa, err := cs.AutoscalingV2().HorizontalPodAutoscalers(namespace).Get(ctx, l.Service+"-hpa", metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("read HPA %s-hpa: %w", l.Service, err)
		}
		dep, err := cs.AppsV1().Deployments(namespace).Get(ctx, hpa.Spec.ScaleTargetRef.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("read Deployment %s: %w", hpa.Spec.ScaleTargetRef.Name, err)
		}
		t, err := demo.TargetFromHPA(hpa, dep.Spec.Template.Spec, l.Driver)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := demo.CheckTarget(l, t, demo.DefaultTolerance); err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, t)
		d.logf("%-22s %s target %s per pod, replicas %d-%d: load %.2f → %.2f → %.2f pods' worth ⇒ replicas %d → %d → %d",
			l.Service, l.Driver, targetText(t), t.Min, t.Max, l.Base, l.Peak, l.Base,
			t.Expected(l.Base), t.Expected(l.Peak), t.Expected(l.Base))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("the scenario does not fit the deployed HPAs: %w", err)
	}
	var phases []string
	for _, p := range d.sc.Phases {
		s := fmt.Sprintf("%s %s", p.Name, p.Duration.Round(time.Second))
		if p.Settle {
			s = fmt.Sprintf("%s %s+ (until the replicas match, at most %s)", p.Name, p.Duration.Round(time.Second), p.MaxSettle)
		}
		phases = append(phases, s)
	}
	d.logf("phases: %s", strings.Join(phases, ", "))
	return out, nil
}

func targetText(t demo.Target) string {
	switch t.Driver {
	case demo.GPUMemory:
		return fmt.Sprintf("%.0f MB", t.HPATarget)
	case demo.CPU:
		return fmt.Sprintf("%.0f%% (%.0fm)", t.HPATarget, t.PerPod)
	default:
		return fmt.Sprintf("%.0f%%", t.HPATarget)
	}
}

// observation is one poll of the cluster.
type observation struct {
	hpas     map[string]*autoscalingv2.HorizontalPodAutoscaler // by scale target name
	replicas map[string]int
	running  map[string]int
}

func observe(ctx context.Context, cs kubernetes.Interface) (*observation, error) {
	ctx, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	o := &observation{hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{}, replicas: map[string]int{}, running: map[string]int{}}
	hpas, err := cs.AutoscalingV2().HorizontalPodAutoscalers(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list HPAs: %w", err)
	}
	for i := range hpas.Items {
		o.hpas[hpas.Items[i].Spec.ScaleTargetRef.Name] = &hpas.Items[i]
	}
	deps, err := cs.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list Deployments: %w", err)
	}
	for _, dep := range deps.Items {
		if dep.Spec.Replicas != nil {
			o.replicas[dep.Name] = int(*dep.Spec.Replicas)
		}
	}
	pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app"})
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			o.running[p.Labels["app"]]++
		}
	}
	return o, nil
}

// sample turns an observation into one sample per service at a load level.
func (o *observation) sample(at time.Duration, phase string, level float64, sc demo.Scenario, targets []demo.Target) []demo.Sample {
	out := make([]demo.Sample, len(targets))
	for i, t := range targets {
		load := sc.Services[i].Load(level)
		x := demo.Sample{At: at, Phase: phase, Load: load, Expected: t.Expected(load), Current: math.NaN(),
			Replicas: o.replicas[t.Service], Ready: o.running[t.Service]}
		if h := o.hpas[t.Service]; h != nil {
			x.Desired = int(h.Status.DesiredReplicas)
			if v, ok := demo.CurrentValue(h, t.Driver); ok {
				x.Current = v
			}
		}
		out[i] = x
	}
	return out
}

func (d *demoRun) setLoad(level float64, targets []demo.Target) {
	for i, t := range targets {
		d.plane.SetDemand(t.Service, t.Demand(d.sc.Services[i].Load(level)))
	}
}

// waitMetrics puts the base load on and waits until every HPA reads its
// driven metric and runs the base's replicas: the scenario's clock starts
// from a steady state.
func (d *demoRun) waitMetrics(ctx context.Context, targets []demo.Target) error {
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
		if time.Since(lastReport) >= hpaSyncPeriod {
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
func (d *demoRun) play(ctx context.Context, targets []demo.Target) (demo.Record, error) {
	d.step("scenario, on its own clock (" + demo.LiveLegend + ")")
	cs, err := d.sb.Clientset()
	if err != nil {
		return demo.Record{}, err
	}
	rec := demo.Record{Started: time.Now()}
	for i, t := range targets {
		rec.Series = append(rec.Series, demo.Series{Load: d.sc.Services[i], Target: t})
	}
	player := demo.NewPlayer(d.sc)
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
			fmt.Fprintf(d.out, "%5s ── %s\n", clock(at), phaseText(d.sc, pos.Phase))
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
			converged = demo.Converged(latest)
			if !printed || at-lastPrint >= hpaSyncPeriod {
				d.mu.Lock()
				fmt.Fprintln(d.out, demo.LiveLine(at, pos.Phase, rec.Series, latest))
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

func phaseText(sc demo.Scenario, name string) string {
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

// report prints the summary and writes the plot, the samples and the summary.
func (d *demoRun) report(rec demo.Record, verdicts []demo.Verdict) error {
	d.step("summary (replicas: at the start → peak → end)")
	var buf bytes.Buffer
	if err := demo.RenderSummary(&buf, rec, verdicts); err != nil {
		return err
	}
	d.mu.Lock()
	fmt.Fprint(d.out, buf.String())
	d.mu.Unlock()
	if err := os.MkdirAll(d.o.out, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", d.o.out, err)
	}
	plotPath := filepath.Join(d.o.out, "scaling.png")
	if err := demo.WritePlotFile(plotPath, rec); err != nil {
		return err
	}
	var csvBuf bytes.Buffer
	if err := rec.WriteCSV(&csvBuf); err != nil {
		return err
	}
	csvPath := filepath.Join(d.o.out, "samples.csv")
	if err := os.WriteFile(csvPath, csvBuf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", csvPath, err)
	}
	if err := os.WriteFile(filepath.Join(d.o.out, "summary.txt"), buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	w, h := demo.PlotSize(len(rec.Series))
	d.logf("plot: %s (%d×%d px); samples: %s", plotPath, w, h, csvPath)
	return nil
}

// doctor runs the operator tooling's doctor against the sandbox.
func (d *demoRun) doctor(ctx context.Context, rec demo.Record) (bool, error) {
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
	// changes as its peak allows are not flapping.
	flap := doctor.DefaultFlapThreshold
	for _, s := range rec.Series {
		flap = max(flap, 2*(s.Target.Expected(s.Load.Peak)-s.Target.Min))
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
	if werr := os.WriteFile(filepath.Join(d.o.out, "doctor.txt"), buf.Bytes(), 0o644); werr != nil {
		return false, fmt.Errorf("write doctor report: %w", werr)
	}
	if err != nil {
		return false, err
	}
	d.timed("doctor", t0)
	return !doctor.Failed(checks), nil
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
		d.logf("teardown: %v (stop what is left with: go run ./scripts/cmd/sandbox down --dir %s)", err, d.o.dir)
		return
	}
	d.timed("teardown", t0)
	d.logf("sandbox stopped (logs kept in %s); total %s", filepath.Join(d.sb.Dir(), "logs"), time.Since(d.start).Round(time.Second))
}

// keepRunning leaves the cluster up, says how to reach it, and keeps the
// in-process parts of the GPU plane (the simulated kubelets' pod-resources
// servers and the load model) serving until interrupted.
func (d *demoRun) keepRunning() {
	kc := d.sb.Kubeconfig()
	d.step("the sandbox keeps running (--keep)")
	d.mu.Lock()
	fmt.Fprintf(d.out, `  export KUBECONFIG=%s
  bin/deploy-auto-scaling --action status --kubeconfig %s
  bin/deploy-auto-scaling --action doctor --kubeconfig %s --prometheus-url %s
  bin/kubectl --kubeconfig %s get hpa -n %s
  go run ./scripts/cmd/sandbox down --dir %s     # stop it
(bin/deploy-auto-scaling comes from `+"`make build`"+`; `+"`go run ./scripts/cmd/deploy-auto-scaling`"+` works as well.)
The simulated kubelets and the load model live in this process: it keeps serving them at the base load
until Ctrl-C. After that the cluster stays up, but GPU series lose their pod labels.
`, kc, kc, kc, d.sb.PrometheusURL(), kc, namespace, d.o.dir)
	d.mu.Unlock()
	if d.plane == nil || d.signalled.Err() != nil {
		return
	}
	<-d.signalled.Done()
}
