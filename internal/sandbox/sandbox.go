// Package sandbox starts and stops the project's embedded Kubernetes cluster:
// real etcd, kube-apiserver, kube-controller-manager (with the HPA
// controller), kube-scheduler, kwok (fake GPU nodes and their pods),
// metrics-server and Prometheus, each a local process with its own log, all on
// free ports picked at runtime. The GPU plane (gpuplane.go) adds the chart's
// prometheus-adapter and one GPU exporter per fake node on top.
//
// It is used by the e2e tests, by `scripts/cmd/sandbox` and by the demo.
package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/medical-kg/gpu-autoscaling/internal/prereq"
	"github.com/medical-kg/gpu-autoscaling/internal/repo"
)

// Options configure a sandbox. The zero value of each field means its default.
type Options struct {
	// Dir holds all state: certificates, kubeconfigs, etcd data, logs, PIDs.
	// Default: <repo>/.sandbox.
	Dir string
	// GPUNodes is the number of fake GPU nodes (default 2), named gpu-node-0…
	GPUNodes int
	// GPUsPerNode is each node's nvidia.com/gpu capacity (default 8).
	GPUsPerNode int
	// HPASyncPeriod is kube-controller-manager's
	// --horizontal-pod-autoscaler-sync-period (default 15s, Kubernetes' own).
	HPASyncPeriod time.Duration
	// HPADownscaleStabilization is --horizontal-pod-autoscaler-downscale-stabilization
	// (default 5m); an HPA's behavior.scaleDown.stabilizationWindowSeconds overrides it.
	HPADownscaleStabilization time.Duration
	// ScrapeInterval is Prometheus' global scrape interval (default 15s).
	ScrapeInterval time.Duration
	// MetricResolution is metrics-server's --metric-resolution (default 10s, its minimum).
	MetricResolution time.Duration
	// Logf receives progress lines (default: discard).
	Logf func(format string, args ...any)
}

func (o Options) withDefaults() (Options, error) {
	if o.Dir == "" {
		root, err := repo.Root()
		if err != nil {
			return o, fmt.Errorf("default state folder: %w (pass Options.Dir)", err)
		}
		o.Dir = filepath.Join(root, ".sandbox")
	}
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return o, fmt.Errorf("state folder %q: %w", o.Dir, err)
	}
	o.Dir = abs
	if o.GPUNodes == 0 {
		o.GPUNodes = 2
	}
	if o.GPUNodes < 0 {
		return o, fmt.Errorf("GPUNodes %d: want at least 1", o.GPUNodes)
	}
	if o.GPUsPerNode == 0 {
		o.GPUsPerNode = 8
	}
	if o.GPUsPerNode < 0 || o.GPUsPerNode > 8 {
		return o, fmt.Errorf("GPUsPerNode %d: want 1..8 (the simulated DGX models have 8 GPUs)", o.GPUsPerNode)
	}
	if o.HPASyncPeriod == 0 {
		o.HPASyncPeriod = 15 * time.Second
	}
	if o.HPADownscaleStabilization == 0 {
		o.HPADownscaleStabilization = 5 * time.Minute
	}
	if o.ScrapeInterval == 0 {
		o.ScrapeInterval = 15 * time.Second
	}
	if o.MetricResolution == 0 {
		o.MetricResolution = 10 * time.Second
	}
	if o.MetricResolution < 10*time.Second {
		return o, fmt.Errorf("MetricResolution %s: metrics-server refuses less than 10s", o.MetricResolution)
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return o, nil
}

// Ports are the TCP ports (all on 127.0.0.1) the components listen on.
type Ports struct {
	Etcd              int `json:"etcd"`
	EtcdPeer          int `json:"etcdPeer"`
	APIServer         int `json:"apiServer"`
	ControllerManager int `json:"controllerManager"`
	Scheduler         int `json:"scheduler"`
	Kwok              int `json:"kwok"`
	MetricsServer     int `json:"metricsServer"`
	Prometheus        int `json:"prometheus"`
}

// State is persisted as <dir>/state.json so that another command can report
// on the sandbox or stop it.
type State struct {
	Dir        string         `json:"dir"`
	Kubeconfig string         `json:"kubeconfig"`
	Server     string         `json:"server"`
	Ports      Ports          `json:"ports"`
	Nodes      []string       `json:"nodes"`
	StartedAt  time.Time      `json:"startedAt"`
	ColdStart  string         `json:"coldStart,omitempty"`
	Processes  []ProcessState `json:"processes"`
}

// Sandbox is one embedded cluster.
type Sandbox struct {
	opts  Options
	pki   PKI
	bins  map[string]string
	mu    sync.Mutex
	state State
	procs []*process
	prom  promConfig
	rest  *rest.Config
}

// New validates options; it starts nothing.
func New(opts Options) (*Sandbox, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Sandbox{opts: o, pki: PKI{Dir: filepath.Join(o.Dir, "pki")}}, nil
}

// Options returns the options in effect (defaults filled in).
func (s *Sandbox) Options() Options { return s.opts }

// Dir is the state folder.
func (s *Sandbox) Dir() string { return s.opts.Dir }

// Kubeconfig is the path of the admin kubeconfig (system:masters).
func (s *Sandbox) Kubeconfig() string { return filepath.Join(s.opts.Dir, "kubeconfig") }

// RESTConfig is the admin client configuration.
func (s *Sandbox) RESTConfig() *rest.Config { return rest.CopyConfig(s.rest) }

// Nodes are the names of the fake GPU nodes.
func (s *Sandbox) Nodes() []string { return append([]string(nil), s.state.Nodes...) }

// Ports returns the ports in use.
func (s *Sandbox) Ports() Ports { return s.state.Ports }

// PrometheusURL is the base URL of the sandbox's Prometheus.
func (s *Sandbox) PrometheusURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d", s.state.Ports.Prometheus)
}

// PKI returns the certificate folder.
func (s *Sandbox) PKI() PKI { return s.pki }

// Clientset returns an admin clientset.
func (s *Sandbox) Clientset() (*kubernetes.Clientset, error) {
	cs, err := kubernetes.NewForConfig(s.RESTConfig())
	if err != nil {
		return nil, fmt.Errorf("admin clientset: %w", err)
	}
	return cs, nil
}

func (s *Sandbox) logDir() string    { return filepath.Join(s.opts.Dir, "logs") }
func (s *Sandbox) statePath() string { return filepath.Join(s.opts.Dir, "state.json") }

// Up starts the whole control plane and waits until it is usable: API server
// ready, controllers running, GPU nodes Ready, metrics.k8s.io Available and
// Prometheus ready. On failure everything started is stopped again.
func (s *Sandbox) Up(ctx context.Context) (err error) {
	start := time.Now()
	if live, _ := Load(s.opts.Dir); live != nil && live.anyAlive() {
		return fmt.Errorf("a sandbox is already running in %s (stop it with `sandbox down --dir %s`)", s.opts.Dir, s.opts.Dir)
	}
	if s.bins, err = prereq.FindBinaries(ClusterBinaries...); err != nil {
		return err
	}
	kwokDir, err := kwokModuleDir(ctx)
	if err != nil {
		return err
	}
	if err := s.prepare(start); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			s.mu.Lock()
			procs := s.procs
			s.procs = nil
			s.mu.Unlock()
			_ = stopAll(procs, 5*time.Second)
			_ = s.saveState()
		}
	}()
	core, err := s.startAPIServer(ctx)
	if err != nil {
		return err
	}
	s.opts.Logf("sandbox: etcd and kube-apiserver ready (%s)", time.Since(start).Round(time.Millisecond))
	cs, err := s.Clientset()
	if err != nil {
		return err
	}
	rest, err := s.startComponents(ctx, cs, kwokDir)
	if err != nil {
		return err
	}
	if err := s.waitReady(ctx, cs, append(core, rest...)); err != nil {
		return err
	}
	s.state.ColdStart = time.Since(start).Round(time.Millisecond).String()
	s.opts.Logf("sandbox: up in %s (%d GPU nodes, API server %s, Prometheus %s)", s.state.ColdStart,
		len(s.state.Nodes), s.state.Server, s.PrometheusURL())
	return s.saveState()
}

// prepare starts a fresh state folder (old etcd data would hold stale
// objects), picks the ports and writes the PKI and kubeconfigs.
func (s *Sandbox) prepare(start time.Time) error {
	for _, sub := range []string{"pki", "etcd", "prometheus", "config", "gpu"} {
		if err := os.RemoveAll(filepath.Join(s.opts.Dir, sub)); err != nil {
			return fmt.Errorf("clean %s: %w", sub, err)
		}
	}
	for _, sub := range []string{"logs", "config"} {
		if err := os.MkdirAll(filepath.Join(s.opts.Dir, sub), 0o755); err != nil {
			return fmt.Errorf("create state folder: %w", err)
		}
	}
	ports, err := freePorts(8)
	if err != nil {
		return err
	}
	s.state = State{
		Dir:        s.opts.Dir,
		Kubeconfig: s.Kubeconfig(),
		Server:     fmt.Sprintf("https://127.0.0.1:%d", ports[2]),
		Ports: Ports{Etcd: ports[0], EtcdPeer: ports[1], APIServer: ports[2], ControllerManager: ports[3],
			Scheduler: ports[4], Kwok: ports[5], MetricsServer: ports[6], Prometheus: ports[7]},
		StartedAt: start,
	}
	for i := 0; i < s.opts.GPUNodes; i++ {
		s.state.Nodes = append(s.state.Nodes, fmt.Sprintf("gpu-node-%d", i))
	}
	if s.pki, err = generatePKI(filepath.Join(s.opts.Dir, "pki")); err != nil {
		return err
	}
	if err := s.writeKubeconfigs(); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig())
	if err != nil {
		return fmt.Errorf("load admin kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	s.rest = cfg
	s.opts.Logf("sandbox: certificates and kubeconfigs in %s (%s)", s.opts.Dir, time.Since(start).Round(time.Millisecond))
	return nil
}

// startAPIServer starts etcd, then kube-apiserver, each once the previous
// one is healthy, and waits for /readyz.
func (s *Sandbox) startAPIServer(ctx context.Context) ([]*process, error) {
	etcd, err := s.start("etcd", prereq.Etcd, s.etcdArgs())
	if err != nil {
		return nil, err
	}
	if err := waitFor(ctx, "etcd health", 100*time.Millisecond, []*process{etcd}, httpOK(
		fmt.Sprintf("http://127.0.0.1:%d/health", s.state.Ports.Etcd))); err != nil {
		return nil, err
	}
	apiserver, err := s.start("kube-apiserver", prereq.KubeAPIServer, s.apiserverArgs())
	if err != nil {
		return nil, err
	}
	cs, err := s.Clientset()
	if err != nil {
		return nil, err
	}
	core := []*process{etcd, apiserver}
	return core, waitFor(ctx, "kube-apiserver /readyz", 200*time.Millisecond, core,
		func(ctx context.Context) (bool, error) {
			body, err := cs.RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
			return err == nil && string(body) == "ok", err
		})
}

// startComponents registers the GPU nodes (before kwok starts, so it adopts
// them at once) and starts the controllers, kwok, metrics-server and
// Prometheus in parallel.
func (s *Sandbox) startComponents(ctx context.Context, cs *kubernetes.Clientset, kwokDir string) ([]*process, error) {
	if err := s.createNodes(ctx, cs); err != nil {
		return nil, err
	}
	kwokArgs, err := s.kwokArgs(kwokDir)
	if err != nil {
		return nil, err
	}
	if err := s.writePrometheusConfig(); err != nil {
		return nil, err
	}
	type spec struct {
		name, bin string
		args      []string
	}
	var started []*process
	for _, sp := range []spec{
		{"kube-controller-manager", prereq.ControllerManager, s.controllerManagerArgs()},
		{"kube-scheduler", prereq.Scheduler, s.schedulerArgs()},
		{"kwok", prereq.Kwok, kwokArgs},
		{"metrics-server", prereq.MetricsServer, s.metricsServerArgs()},
		{"prometheus", prereq.Prometheus, s.prometheusArgs()},
	} {
		p, err := s.start(sp.name, sp.bin, sp.args)
		if err != nil {
			return nil, err
		}
		started = append(started, p)
	}
	return started, s.registerMetricsServer(ctx, cs)
}

// ColdStart is how long the last Up took.
func (s *Sandbox) ColdStart() string { return s.state.ColdStart }
