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
	"slices"
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
	// Dir holds all state: certificates, kubeconfigs, etcd data, logs, PIDs,
	// the real node's containerd and kubelet folders. Default: <repo>/.sandbox.
	Dir string
	// KwokOnly runs no real node: the control plane with kwok's fake nodes
	// only (no root, no containers: pods are scheduled, then marked Running).
	KwokOnly bool
	// KwokNodes is the number of kwok fake GPU nodes, kwok-node-0… (default
	// 0; 2 with KwokOnly). They carry the taint kwok.x-k8s.io/node=fake.
	KwokNodes int
	// GPUsPerNode is each kwok node's nvidia.com/gpu capacity (default 8).
	// The real node's GPUs come from the fake device plugin the stand-in
	// services' chart runs.
	GPUsPerNode int
	// ImagesDir holds the image archives the real node imports (default
	// <repo>/dist/images, written by `make images`).
	ImagesDir string
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

// Compressed timings of the demo and the e2e suite: values/sandbox.yaml
// compresses the chart's behavior windows and the exporter's collection
// interval (5s) to match.
const (
	CompressedHPASyncPeriod  = 5 * time.Second
	CompressedScrapeInterval = 5 * time.Second
	// SandboxExporterInterval is exporter.collectionInterval in values/sandbox.yaml.
	SandboxExporterInterval = 5 * time.Second
)

func (o Options) withDefaults() (Options, error) {
	root, rootErr := repo.Root()
	if o.Dir == "" {
		if rootErr != nil {
			return o, fmt.Errorf("default state folder: %w (pass Options.Dir)", rootErr)
		}
		o.Dir = filepath.Join(root, ".sandbox")
	}
	if o.ImagesDir == "" && rootErr == nil {
		o.ImagesDir = filepath.Join(root, "dist", "images")
	}
	for _, p := range []*string{&o.Dir, &o.ImagesDir} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return o, fmt.Errorf("folder %q: %w", *p, err)
		}
		*p = abs
	}
	if o.KwokNodes < 0 {
		return o, fmt.Errorf("KwokNodes %d: want 0 or more", o.KwokNodes)
	}
	if o.KwokOnly && o.KwokNodes == 0 {
		o.KwokNodes = 2
	}
	if o.GPUsPerNode == 0 {
		o.GPUsPerNode = 8
	}
	if o.GPUsPerNode < 0 || o.GPUsPerNode > 64 {
		return o, fmt.Errorf("GPUsPerNode %d: want 1..64", o.GPUsPerNode)
	}
	setDefault(&o.HPASyncPeriod, 15*time.Second)
	setDefault(&o.HPADownscaleStabilization, 5*time.Minute)
	setDefault(&o.ScrapeInterval, 15*time.Second)
	setDefault(&o.MetricResolution, 10*time.Second)
	if o.MetricResolution < 10*time.Second {
		return o, fmt.Errorf("MetricResolution %s: metrics-server refuses less than 10s", o.MetricResolution)
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return o, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d == 0 {
		*d = v
	}
}

// Ports are the TCP ports the components listen on (127.0.0.1, or the node
// IP for what pods must reach: the API server and Prometheus).
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
	KwokNodes  []string       `json:"kwokNodes,omitempty"`
	Node       *NodeState     `json:"node,omitempty"`
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

// Nodes are the names of the GPU nodes: the real node, then the kwok nodes.
func (s *Sandbox) Nodes() []string { return append([]string(nil), s.state.Nodes...) }

// Node is the real node's state, nil with KwokOnly.
func (s *Sandbox) Node() *NodeState { return s.state.Node }

// apiHost is the address the API server and Prometheus serve on: the node
// IP with a real node (the kubelet and pods reach them there), else 127.0.0.1.
func (s *Sandbox) apiHost() string {
	if s.state.Node != nil {
		return s.state.Node.IP
	}
	return "127.0.0.1"
}

// Ports returns the ports in use.
func (s *Sandbox) Ports() Ports { return s.state.Ports }

// PrometheusURL is the base URL of the sandbox's Prometheus (reachable from
// this machine and from pods).
func (s *Sandbox) PrometheusURL() string { return "http://" + s.prometheusAddress() }

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

// Up starts the cluster and waits until it is usable: API server ready,
// controllers running, every node Ready (the real node: kubelet, containerd
// with the project's images, kube-proxy), metrics.k8s.io Available and
// Prometheus ready. On failure everything started is stopped again and the
// machine is left as it was.
func (s *Sandbox) Up(ctx context.Context) (err error) {
	start := time.Now()
	if err := s.clearStale(ctx); err != nil {
		return err
	}
	if err := s.Check(ctx); err != nil {
		return err
	}
	kwokDir := ""
	if s.opts.KwokNodes > 0 {
		if kwokDir, err = kwokModuleDir(ctx); err != nil {
			return err
		}
	}
	if err := s.prepare(start); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			downCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_ = s.Down(downCtx)
		}
	}()
	if n := s.state.Node; n != nil {
		if err := createBridge(nodeBridge, n.IP, nodePrefix); err != nil {
			return err
		}
		n.Bridge = nodeBridge
		if err := s.saveState(); err != nil {
			return err
		}
	}
	core, err := s.startAPIServer(ctx)
	if err != nil {
		return err
	}
	s.opts.Logf("sandbox: etcd and kube-apiserver ready (%s)", time.Since(start).Round(time.Millisecond))
	cs, err := s.Clientset()
	if err != nil {
		return err
	}
	if err := s.grantComponents(ctx, cs); err != nil {
		return err
	}
	rest, err := s.startComponents(ctx, cs, kwokDir)
	if err != nil {
		return err
	}
	if s.state.Node != nil {
		if err := s.startNode(ctx); err != nil {
			return err
		}
	}
	if err := s.waitReady(ctx, cs, append(core, rest...)); err != nil {
		return err
	}
	s.state.ColdStart = time.Since(start).Round(time.Millisecond).String()
	s.opts.Logf("sandbox: up in %s (nodes %v, API server %s, Prometheus %s)", s.state.ColdStart,
		s.state.Nodes, s.state.Server, s.PrometheusURL())
	return s.saveState()
}

// Check reports, without starting anything, what the sandbox would miss:
// binaries not built (wrapping prereq.ErrMissing) and, for the real node,
// what the machine lacks (wrapping ErrEnvironment).
func (s *Sandbox) Check(ctx context.Context) error {
	bins := ClusterBinaries
	if s.opts.KwokNodes > 0 {
		bins = append(slices.Clip(bins), prereq.Kwok)
	}
	if !s.opts.KwokOnly {
		bins = append(slices.Clip(bins), nodeBinaries...)
	}
	found, err := prereq.FindBinaries(bins...)
	if err != nil {
		return err
	}
	s.bins = found
	if !s.opts.KwokOnly {
		return s.checkNodeEnvironment(ctx)
	}
	return nil
}

// clearStale refuses a state folder a running sandbox uses, and takes apart
// what a sandbox that did not stop cleanly left (mounts, cgroups, bridge).
func (s *Sandbox) clearStale(ctx context.Context) error {
	old, err := Load(s.opts.Dir)
	if err != nil {
		return nil // nothing there
	}
	if old.anyAlive() {
		return fmt.Errorf("a sandbox is already running in %s (stop it with `sandbox down --dir %s`)", s.opts.Dir, s.opts.Dir)
	}
	if err := old.Down(ctx); err != nil {
		return fmt.Errorf("clean up what the last sandbox in %s left: %w", s.opts.Dir, err)
	}
	return nil
}

// prepare starts a fresh state folder (old etcd data would hold stale
// objects), picks the ports and writes the PKI and kubeconfigs.
func (s *Sandbox) prepare(start time.Time) error {
	for _, sub := range []string{"pki", "etcd", "prometheus", "config", "node"} {
		if err := os.RemoveAll(filepath.Join(s.opts.Dir, sub)); err != nil {
			return fmt.Errorf("clean %s: %w", sub, err)
		}
	}
	for _, sub := range []string{"logs", "config"} {
		if err := os.MkdirAll(filepath.Join(s.opts.Dir, sub), 0o755); err != nil {
			return fmt.Errorf("create state folder: %w", err)
		}
	}
	ports, err := freePorts(12)
	if err != nil {
		return err
	}
	s.state = State{Dir: s.opts.Dir, Kubeconfig: s.Kubeconfig(), StartedAt: start,
		Ports: Ports{Etcd: ports[0], EtcdPeer: ports[1], APIServer: ports[2], ControllerManager: ports[3],
			Scheduler: ports[4], Kwok: ports[5], MetricsServer: ports[6], Prometheus: ports[7]}}
	if !s.opts.KwokOnly {
		s.state.Node = newNodeState(s.opts.Dir, ports[8:12])
		s.state.Nodes = append(s.state.Nodes, s.state.Node.Name)
	}
	for i := 0; i < s.opts.KwokNodes; i++ {
		s.state.KwokNodes = append(s.state.KwokNodes, fmt.Sprintf("kwok-node-%d", i))
	}
	s.state.Nodes = append(s.state.Nodes, s.state.KwokNodes...)
	s.state.Server = fmt.Sprintf("https://%s:%d", s.apiHost(), s.state.Ports.APIServer)
	if s.pki, err = generatePKI(filepath.Join(s.opts.Dir, "pki"), s.state.Node); err != nil {
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
	return s.saveState()
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

// startComponents starts the controllers, metrics-server and Prometheus
// and, with kwok nodes, registers them (before kwok starts, so it adopts
// them at once) and starts kwok.
func (s *Sandbox) startComponents(ctx context.Context, cs *kubernetes.Clientset, kwokDir string) ([]*process, error) {
	if err := s.writePrometheusConfig(); err != nil {
		return nil, err
	}
	type spec struct {
		name, bin string
		args      []string
	}
	specs := []spec{
		{"kube-controller-manager", prereq.ControllerManager, s.controllerManagerArgs()},
		{"kube-scheduler", prereq.Scheduler, s.schedulerArgs()},
		{"metrics-server", prereq.MetricsServer, s.metricsServerArgs()},
		{"prometheus", prereq.Prometheus, s.prometheusArgs()},
	}
	if len(s.state.KwokNodes) > 0 {
		if err := s.createNodes(ctx, cs); err != nil {
			return nil, err
		}
		kwokArgs, err := s.kwokArgs(kwokDir)
		if err != nil {
			return nil, err
		}
		specs = append(specs, spec{"kwok", prereq.Kwok, kwokArgs})
	}
	var started []*process
	for _, sp := range specs {
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
