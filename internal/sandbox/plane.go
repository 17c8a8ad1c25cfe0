package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/gruntwork-io/terratest/modules/helm"
	"github.com/gruntwork-io/terratest/modules/k8s"
	"github.com/gruntwork-io/terratest/modules/logger"
	terratesting "github.com/gruntwork-io/terratest/modules/testing"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/medical-kg/gpu-autoscaling/exporter/podresources/podresourcestest"
	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/loadmodel"
	"github.com/medical-kg/gpu-autoscaling/internal/prereq"
	"github.com/medical-kg/gpu-autoscaling/internal/repo"
)

// ChartOptions configure the GPU plane: the chart under test, its values and
// the stand-in workloads.
type ChartOptions struct {
	// ChartDir is the umbrella chart (default <repo>/charts/gpu-autoscaling).
	ChartDir string
	// ValuesFiles for the chart (default <repo>/values/sandbox.yaml).
	ValuesFiles []string
	// SetValues are extra --set values. The sandbox always sets the adapter's
	// Prometheus URL and ports, which depend on the ports it picked.
	SetValues map[string]string
	// Release and Namespace (defaults gpu-autoscaling, medical-kg).
	Release, Namespace string
	// WorkloadsChartDir is the stand-in GPU services chart (default
	// <repo>/charts/gpu-services); SkipWorkloads leaves it out.
	WorkloadsChartDir string
	// WorkloadsValuesFiles (default <repo>/values/gpu-services/sandbox.yaml).
	WorkloadsValuesFiles []string
	WorkloadsRelease     string
	SkipWorkloads        bool
	// ExporterBinary is a built gpu-metrics-exporter; empty: `go build` it
	// into <dir>/bin (cgo on).
	ExporterBinary string
	// Timeout bounds each helm command and each wait (default 3 minutes).
	Timeout time.Duration
	// ServiceMonitorCRD registers the monitoring.coreos.com/v1 ServiceMonitor
	// kind before installing, so a chart with serviceMonitor.enabled renders
	// one and the exporter is scraped the way it says.
	ServiceMonitorCRD bool
}

func (o ChartOptions) withDefaults() (ChartOptions, error) {
	root, rootErr := repo.Root()
	need := func(p *string, rel string) error {
		if *p != "" {
			return nil
		}
		if rootErr != nil {
			return rootErr
		}
		*p = filepath.Join(root, rel)
		return nil
	}
	if err := need(&o.ChartDir, contract.DefaultChart); err != nil {
		return o, err
	}
	if o.ValuesFiles == nil {
		var f string
		if err := need(&f, "values/sandbox.yaml"); err != nil {
			return o, err
		}
		o.ValuesFiles = []string{f}
	}
	if !o.SkipWorkloads {
		if err := need(&o.WorkloadsChartDir, contract.WorkloadsChart); err != nil {
			return o, err
		}
		if o.WorkloadsValuesFiles == nil {
			var f string
			if err := need(&f, "values/gpu-services/sandbox.yaml"); err != nil {
				return o, err
			}
			o.WorkloadsValuesFiles = []string{f}
		}
	}
	if o.Release == "" {
		o.Release = contract.DefaultRelease
	}
	if o.Namespace == "" {
		o.Namespace = contract.DefaultNamespace
	}
	if o.WorkloadsRelease == "" {
		o.WorkloadsRelease = contract.WorkloadsRelease
	}
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Minute
	}
	for _, p := range append([]string{o.ChartDir}, o.ValuesFiles...) {
		if _, err := os.Stat(p); err != nil {
			return o, fmt.Errorf("chart input %s: %w", p, err)
		}
	}
	if !o.SkipWorkloads {
		for _, p := range append([]string{o.WorkloadsChartDir}, o.WorkloadsValuesFiles...) {
			if _, err := os.Stat(p); err != nil {
				return o, fmt.Errorf("workloads chart input %s: %w", p, err)
			}
		}
	}
	return o, nil
}

// GPUPlane is the chart installed on the sandbox plus the processes that
// stand in for the pods kwok cannot run: prometheus-adapter with the
// chart's args, rules, TLS and service account, and one exporter per fake
// GPU node behind a fake kubelet pod-resources server.
type GPUPlane struct {
	sb          *Sandbox
	t           terratesting.TestingT
	opts        ChartOptions
	helm        *helm.Options
	cs          *kubernetes.Clientset
	dir         string
	exporterBin string
	adapterPort int

	mu        sync.Mutex
	nodes     map[string]*fakeNode
	demand    map[string]loadmodel.Demand
	annotated map[types.UID][2]string // pod UID → cpu/memory annotations last written
	// resourceDemand marks services whose cpu/memory usage the plane drives.
	resourceDemand map[string]bool
	model          string
	memTotal       float64 // MB per GPU of the simulated model

	adapterArgs  []string
	scrapeSource string // where the exporter's scrape job came from
	scrapeJob    string // its job label
	cancel       context.CancelFunc
	loopDone     chan struct{}
}

// fakeNode is one GPU node's kubelet stand-in and exporter.
type fakeNode struct {
	name    string
	port    int
	dir     string
	simFile string
	socket  string
	server  *podresourcestest.Server
	args    []string
	env     []string
	// alloc maps pod UID/container to device indexes; free lists indexes.
	alloc   map[string][]int
	owner   map[int]podRef
	lastSim string
}

type podRef struct {
	uid       types.UID
	namespace string
	name      string
	container string
	service   string
	gpus      int
}

// InstallGPUPlane installs the chart (and the stand-in workloads) with
// Terratest's helm module and starts the adapter and the exporters from what
// the chart rendered. Close undoes the processes; Uninstall the releases.
func (s *Sandbox) InstallGPUPlane(ctx context.Context, t terratesting.TestingT, opts ChartOptions) (*GPUPlane, error) {
	g, err := s.newGPUPlane(ctx, t, opts)
	if err != nil {
		return nil, err
	}
	if err := g.installReleases(ctx); err != nil {
		return nil, err
	}
	if err := g.StartExporters(ctx); err != nil {
		g.Close()
		return nil, err
	}
	if err := g.StartAdapter(ctx); err != nil {
		g.Close()
		return nil, err
	}
	loopCtx, loopCancel := context.WithCancel(context.Background())
	g.cancel, g.loopDone = loopCancel, make(chan struct{})
	go g.loop(loopCtx)
	if err := g.WaitAPIServices(ctx); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// newGPUPlane checks the chart inputs and helm, picks the adapter's and the
// exporters' ports, builds the exporter and the Terratest helm options.
func (s *Sandbox) newGPUPlane(ctx context.Context, t terratesting.TestingT, opts ChartOptions) (*GPUPlane, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if _, err := prereq.FindBinary(prereq.Helm); err != nil {
		return nil, err
	}
	if err := prereq.PutBinFirstOnPath(); err != nil {
		return nil, err
	}
	cs, err := s.Clientset()
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(1 + len(s.state.Nodes))
	if err != nil {
		return nil, err
	}
	g := &GPUPlane{sb: s, t: t, opts: o, cs: cs, dir: filepath.Join(s.opts.Dir, "gpu"), adapterPort: ports[0],
		nodes: map[string]*fakeNode{}, demand: map[string]loadmodel.Demand{}, annotated: map[types.UID][2]string{},
		resourceDemand: map[string]bool{}}
	for i, node := range s.state.Nodes {
		g.nodes[node] = &fakeNode{name: node, port: ports[1+i], dir: filepath.Join(g.dir, node),
			alloc: map[string][]int{}, owner: map[int]podRef{}}
	}
	set := map[string]string{
		"adapter.prometheus.url":       s.PrometheusURL(),
		"adapter.securePort":           strconv.Itoa(g.adapterPort),
		"adapter.service.port":         strconv.Itoa(g.adapterPort),
		"adapter.service.externalName": "localhost",
	}
	maps.Copy(set, o.SetValues)
	g.helm = &helm.Options{
		KubectlOptions: k8s.NewKubectlOptions("", s.Kubeconfig(), o.Namespace),
		ValuesFiles:    o.ValuesFiles,
		SetValues:      set,
		EnvVars:        map[string]string{"HELM_CACHE_HOME": filepath.Join(g.dir, "helm", "cache"), "HELM_CONFIG_HOME": filepath.Join(g.dir, "helm", "config"), "HELM_DATA_HOME": filepath.Join(g.dir, "helm", "data")},
		ExtraArgs:      map[string][]string{"install": {"--create-namespace", "--wait=false", "--timeout", o.Timeout.String()}},
		Logger:         logger.New(reporterLogger{}),
	}
	if err := os.MkdirAll(g.dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", g.dir, err)
	}
	if g.exporterBin, err = g.buildExporter(ctx); err != nil {
		return nil, err
	}
	return g, nil
}

// installReleases installs the chart and the stand-in workloads with
// Terratest's helm module (registering the ServiceMonitor CRD first when asked).
func (g *GPUPlane) installReleases(ctx context.Context) error {
	o := g.opts
	hctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if o.ServiceMonitorCRD {
		if err := g.sb.InstallServiceMonitorCRD(hctx); err != nil {
			return err
		}
	}
	if err := helm.InstallContextE(g.t, hctx, g.helm, o.ChartDir, o.Release); err != nil {
		return fmt.Errorf("helm install %s: %w", o.Release, err)
	}
	if o.SkipWorkloads {
		return nil
	}
	wopts := *g.helm
	wopts.ValuesFiles = o.WorkloadsValuesFiles
	wopts.SetValues = nil
	if err := helm.InstallContextE(g.t, hctx, &wopts, o.WorkloadsChartDir, o.WorkloadsRelease); err != nil {
		return fmt.Errorf("helm install %s: %w", o.WorkloadsRelease, err)
	}
	return nil
}

// HelmOptions returns a copy of the Terratest helm options the plane uses
// (kubeconfig, namespace, values files, sandbox --set values).
func (g *GPUPlane) HelmOptions() *helm.Options {
	c := *g.helm
	c.SetValues = maps.Clone(g.helm.SetValues)
	c.ValuesFiles = append([]string(nil), g.helm.ValuesFiles...)
	return &c
}

// ScrapeSource says where the exporter scrape job came from (the chart's
// ServiceMonitor or its prometheus.io annotations); ScrapeJobName is its job label.
func (g *GPUPlane) ScrapeSource() string  { return g.scrapeSource }
func (g *GPUPlane) ScrapeJobName() string { return g.scrapeJob }

// Options are the chart options in effect.
func (g *GPUPlane) Options() ChartOptions { return g.opts }

// Close stops the load loop, the fake kubelets, the exporters and the adapter.
// The releases stay installed (Uninstall removes them).
func (g *GPUPlane) Close() {
	if g.cancel != nil {
		g.cancel()
		<-g.loopDone
		g.cancel = nil
	}
	var procs []string
	for _, node := range g.sb.state.Nodes {
		procs = append(procs, ExporterProcess(node))
	}
	procs = append(procs, AdapterProcess)
	var wg sync.WaitGroup
	for _, name := range procs {
		if g.sb.process(name) == nil {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = g.sb.StopProcess(name) }()
	}
	wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, n := range g.nodes {
		if n.server != nil {
			n.server.Close()
			n.server = nil
		}
	}
}

// Uninstall removes both releases with helm and stops the plane's processes.
func (g *GPUPlane) Uninstall(ctx context.Context) error {
	g.Close()
	ctx, cancel := context.WithTimeout(ctx, g.opts.Timeout)
	defer cancel()
	var errs []error
	if !g.opts.SkipWorkloads {
		if err := helm.DeleteContextE(g.t, ctx, g.helm, g.opts.WorkloadsRelease, true); err != nil {
			errs = append(errs, fmt.Errorf("helm uninstall %s: %w", g.opts.WorkloadsRelease, err))
		}
	}
	if err := helm.DeleteContextE(g.t, ctx, g.helm, g.opts.Release, true); err != nil {
		errs = append(errs, fmt.Errorf("helm uninstall %s: %w", g.opts.Release, err))
	}
	return errors.Join(errs...)
}

// ServeGPUPlane installs the GPU plane on a running sandbox and keeps it
// serving until ctx ends (the fake kubelets and the load loop live in this
// process), then stops everything, the sandbox included. installCtx bounds
// the installation.
func (s *Sandbox) ServeGPUPlane(ctx, installCtx context.Context, stdout io.Writer) (err error) {
	defer func() {
		if downErr := s.Down(context.Background()); downErr != nil {
			err = errors.Join(err, downErr)
		}
	}()
	plane, err := s.InstallGPUPlane(installCtx, NewReporter("sandbox", s.opts.Logf), ChartOptions{})
	if err != nil {
		return fmt.Errorf("install the chart: %w (logs in %s)", err, s.logDir())
	}
	defer plane.Close()
	fmt.Fprintf(stdout, "sandbox up with the chart in %s\n  export KUBECONFIG=%s\n  prometheus: %s\n  adapter: https://127.0.0.1:%d (custom.metrics.k8s.io)\n  logs: %s\n  Ctrl-C stops everything\n",
		s.ColdStart(), s.Kubeconfig(), s.PrometheusURL(), plane.AdapterPort(), s.logDir())
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping")
	return nil
}
