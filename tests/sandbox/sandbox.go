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
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	apiregv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"
)

// Well-known names of the sandbox's fake GPU nodes.
const (
	// KwokNodeAnnotation marks nodes kwok manages (and the taint key workloads tolerate).
	KwokNodeAnnotation = "kwok.x-k8s.io/node"
	// GPUPresentLabel is the label GPU nodes carry (chart contract).
	GPUPresentLabel = "nvidia.com/gpu.present"
	// GPUResource is the extended resource of a whole GPU.
	GPUResource corev1.ResourceName = "nvidia.com/gpu"
	// UsageCPUAnnotation and UsageMemoryAnnotation set a kwok pod's reported usage.
	UsageCPUAnnotation    = "kwok.x-k8s.io/usage-cpu"
	UsageMemoryAnnotation = "kwok.x-k8s.io/usage-memory"
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
		root, err := RepoRoot()
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
	bins, err := findBinaries(ClusterBinaries...)
	if err != nil {
		return err
	}
	s.bins = bins
	kwokDir, err := kwokModuleDir(ctx)
	if err != nil {
		return err
	}
	// A fresh cluster every time: old etcd data would hold stale objects.
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

	etcd, err := s.start("etcd", BinEtcd, s.etcdArgs())
	if err != nil {
		return err
	}
	if err := waitFor(ctx, "etcd health", 100*time.Millisecond, []*process{etcd}, httpOK(
		fmt.Sprintf("http://127.0.0.1:%d/health", s.state.Ports.Etcd))); err != nil {
		return err
	}
	apiserver, err := s.start("kube-apiserver", BinKubeAPIServer, s.apiserverArgs())
	if err != nil {
		return err
	}
	cs, err := s.Clientset()
	if err != nil {
		return err
	}
	if err := waitFor(ctx, "kube-apiserver /readyz", 200*time.Millisecond, []*process{etcd, apiserver},
		func(ctx context.Context) (bool, error) {
			body, err := cs.RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
			return err == nil && string(body) == "ok", err
		}); err != nil {
		return err
	}
	s.opts.Logf("sandbox: etcd and kube-apiserver ready (%s)", time.Since(start).Round(time.Millisecond))

	// Nodes exist before kwok starts so it adopts them at once.
	if err := s.createNodes(ctx, cs); err != nil {
		return err
	}
	kwokArgs, err := s.kwokArgs(kwokDir)
	if err != nil {
		return err
	}
	if err := s.writePrometheusConfig(); err != nil {
		return err
	}
	type spec struct {
		name, bin string
		args      []string
	}
	var rest []*process
	for _, sp := range []spec{
		{"kube-controller-manager", BinControllerManager, s.controllerManagerArgs()},
		{"kube-scheduler", BinScheduler, s.schedulerArgs()},
		{"kwok", BinKwok, kwokArgs},
		{"metrics-server", BinMetricsServer, s.metricsServerArgs()},
		{"prometheus", BinPrometheus, s.prometheusArgs()},
	} {
		p, err := s.start(sp.name, sp.bin, sp.args)
		if err != nil {
			return err
		}
		rest = append(rest, p)
	}
	if err := s.registerMetricsServer(ctx, cs); err != nil {
		return err
	}
	all := append([]*process{etcd, apiserver}, rest...)
	if err := s.waitReady(ctx, cs, all); err != nil {
		return err
	}
	s.state.ColdStart = time.Since(start).Round(time.Millisecond).String()
	s.opts.Logf("sandbox: up in %s (%d GPU nodes, API server %s, Prometheus %s)", s.state.ColdStart,
		len(s.state.Nodes), s.state.Server, s.PrometheusURL())
	return s.saveState()
}

// ColdStart is how long the last Up took.
func (s *Sandbox) ColdStart() string { return s.state.ColdStart }

func (s *Sandbox) waitReady(ctx context.Context, cs *kubernetes.Clientset, watch []*process) error {
	checks := []struct {
		what  string
		check func(context.Context) (bool, error)
	}{
		{"kube-controller-manager (default service account)", func(ctx context.Context) (bool, error) {
			_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
			return err == nil, err
		}},
		{"kube-scheduler /healthz", httpOK(fmt.Sprintf("https://127.0.0.1:%d/healthz", s.state.Ports.Scheduler))},
		{"GPU nodes Ready (kwok)", func(ctx context.Context) (bool, error) {
			for _, n := range s.state.Nodes {
				node, err := cs.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
				if err != nil {
					return false, err
				}
				if !nodeReady(node) {
					return false, fmt.Errorf("node %s not Ready", n)
				}
			}
			return true, nil
		}},
		{"APIService v1beta1.metrics.k8s.io Available", func(ctx context.Context) (bool, error) {
			return APIServiceAvailable(ctx, s.RESTConfig(), "v1beta1.metrics.k8s.io")
		}},
		{"Prometheus /-/ready", httpOK(s.PrometheusURL() + "/-/ready")},
	}
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = waitFor(ctx, c.what, 200*time.Millisecond, watch, c.check)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func nodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// APIServiceAvailable reports whether an APIService has condition Available=True;
// the error carries the condition's message otherwise.
func APIServiceAvailable(ctx context.Context, cfg *rest.Config, name string) (bool, error) {
	ac, err := aggregator.NewForConfig(cfg)
	if err != nil {
		return false, fmt.Errorf("aggregator client: %w", err)
	}
	svc, err := ac.ApiregistrationV1().APIServices().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, err
	}
	for _, c := range svc.Status.Conditions {
		if c.Type == apiregv1.Available {
			if c.Status == apiregv1.ConditionTrue {
				return true, nil
			}
			return false, fmt.Errorf("APIService %s: %s: %s", name, c.Reason, c.Message)
		}
	}
	return false, fmt.Errorf("APIService %s has no Available condition yet", name)
}

// httpOK checks that url answers 200 (TLS not verified: these are liveness
// probes of local processes, not the paths under test).
func httpOK(url string) func(context.Context) (bool, error) {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // local liveness probe
	return func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("%s: %s", url, resp.Status)
		}
		return true, nil
	}
}

// start runs a cluster binary and records it in the state.
func (s *Sandbox) start(name, bin string, args []string) (*process, error) {
	path := bin
	if p, ok := s.bins[bin]; ok {
		path = p
	}
	return s.StartProcess(name, path, args, nil)
}

// StartProcess runs an extra process as part of the sandbox (the GPU plane's
// adapter and exporters use it): its log goes to <dir>/logs/<name>.log, its
// PID into the state file, and Down stops it.
func (s *Sandbox) StartProcess(name, binary string, args, env []string) (*process, error) {
	p, err := startProcess(name, binary, args, env, s.logDir())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	if err := s.saveState(); err != nil {
		return nil, err
	}
	return p, nil
}

// StopProcess stops the named process (SIGTERM, then SIGKILL after 5 s) and
// removes it from the state; the fault tests use it.
func (s *Sandbox) StopProcess(name string) error {
	s.mu.Lock()
	var found *process
	kept := s.procs[:0]
	for _, p := range s.procs {
		if p.Name == name && found == nil {
			found = p
			continue
		}
		kept = append(kept, p)
	}
	s.procs = kept
	s.mu.Unlock()
	if found == nil {
		return fmt.Errorf("no sandbox process named %q", name)
	}
	if err := found.stop(5 * time.Second); err != nil {
		return err
	}
	return s.saveState()
}

// KillProcess sends SIGKILL to the named process, as a crash would, and
// waits for it to exit.
func (s *Sandbox) KillProcess(name string) error {
	p := s.process(name)
	if p == nil {
		return fmt.Errorf("no sandbox process named %q", name)
	}
	if err := p.stop(0); err != nil {
		return err
	}
	return s.StopProcess(name)
}

// ProcessRunning reports whether the named process is alive.
func (s *Sandbox) ProcessRunning(name string) bool {
	p := s.process(name)
	return p != nil && !p.exited()
}

func (s *Sandbox) process(name string) *process {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.procs {
		if p.Name == name {
			return p
		}
	}
	return nil
}

func (s *Sandbox) saveState() error {
	s.mu.Lock()
	st := s.state
	st.Processes = nil
	for _, p := range s.procs {
		st.Processes = append(st.Processes, p.ProcessState)
	}
	s.mu.Unlock()
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	tmp := s.statePath() + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp, s.statePath()); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// Load reads the state a previous Up left in dir, so that Status and Down
// work from another command. The processes are not children of this one.
func Load(dir string) (*Sandbox, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("state folder %q: %w", dir, err)
	}
	data, err := os.ReadFile(filepath.Join(abs, "state.json"))
	if err != nil {
		return nil, fmt.Errorf("no sandbox state in %s: %w", abs, err)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("decode %s/state.json: %w", abs, err)
	}
	s := &Sandbox{opts: Options{Dir: abs, Logf: func(string, ...any) {}}, state: st,
		pki: PKI{Dir: filepath.Join(abs, "pki")}}
	s.opts.GPUNodes = len(st.Nodes)
	for _, ps := range st.Processes {
		s.procs = append(s.procs, &process{ProcessState: ps})
	}
	if cfg, err := clientcmd.BuildConfigFromFlags("", st.Kubeconfig); err == nil {
		s.rest = cfg
	}
	return s, nil
}

func (s *Sandbox) anyAlive() bool {
	for _, p := range s.procs {
		if !p.exited() {
			return true
		}
	}
	return false
}

// Down stops every process of the sandbox in parallel and removes the
// cluster's data (etcd, certificates, kubeconfigs); logs stay in <dir>/logs.
func (s *Sandbox) Down(ctx context.Context) error {
	s.mu.Lock()
	procs := append([]*process(nil), s.procs...)
	s.mu.Unlock()
	errc := make(chan error, 1)
	go func() { errc <- stopAll(procs, 10*time.Second) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		return fmt.Errorf("stop sandbox: %w", ctx.Err())
	}
	s.mu.Lock()
	s.procs = nil
	s.mu.Unlock()
	for _, sub := range []string{"etcd", "pki", "prometheus", "config", "gpu", "kubeconfig", "state.json"} {
		if rmErr := os.RemoveAll(filepath.Join(s.opts.Dir, sub)); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("remove %s: %w", sub, rmErr))
		}
	}
	return err
}

// ProcessStatus is one line of Status.
type ProcessStatus struct {
	Name    string `json:"name"`
	PID     int    `json:"pid"`
	Running bool   `json:"running"`
	Log     string `json:"log"`
}

// Status is a snapshot of the sandbox's health.
type Status struct {
	Dir        string          `json:"dir"`
	Kubeconfig string          `json:"kubeconfig"`
	Server     string          `json:"server"`
	Prometheus string          `json:"prometheus"`
	APIReady   bool            `json:"apiReady"`
	APIError   string          `json:"apiError,omitempty"`
	ReadyNodes []string        `json:"readyNodes"`
	APIService map[string]bool `json:"apiServices"`
	Processes  []ProcessStatus `json:"processes"`
	ColdStart  string          `json:"coldStart,omitempty"`
}

// Status reports each process and, when the API server answers, node
// readiness and APIService availability.
func (s *Sandbox) Status(ctx context.Context) Status {
	st := Status{Dir: s.opts.Dir, Kubeconfig: s.state.Kubeconfig, Server: s.state.Server,
		Prometheus: s.PrometheusURL(), APIService: map[string]bool{}, ColdStart: s.state.ColdStart}
	s.mu.Lock()
	for _, p := range s.procs {
		st.Processes = append(st.Processes, ProcessStatus{Name: p.Name, PID: p.PID, Running: !p.exited(), Log: p.Log})
	}
	s.mu.Unlock()
	if s.rest == nil {
		st.APIError = "no kubeconfig"
		return st
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cfg := s.RESTConfig()
	cfg.Timeout = 3 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		st.APIError = err.Error()
		return st
	}
	if body, err := cs.RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
		st.APIError = err.Error()
		return st
	} else {
		st.APIReady = string(body) == "ok"
	}
	if nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
		for i := range nodes.Items {
			if nodeReady(&nodes.Items[i]) {
				st.ReadyNodes = append(st.ReadyNodes, nodes.Items[i].Name)
			}
		}
	}
	if ac, err := aggregator.NewForConfig(cfg); err == nil {
		if list, err := ac.ApiregistrationV1().APIServices().List(ctx, metav1.ListOptions{}); err == nil {
			for _, svc := range list.Items {
				if svc.Spec.Service == nil {
					continue // local APIs are always served by kube-apiserver itself
				}
				ok := false
				for _, c := range svc.Status.Conditions {
					if c.Type == apiregv1.Available && c.Status == apiregv1.ConditionTrue {
						ok = true
					}
				}
				st.APIService[svc.Name] = ok
			}
		}
	}
	return st
}

func (s *Sandbox) writeKubeconfigs() error {
	for _, id := range []string{"admin", "controller-manager", "scheduler", "kwok", "metrics-server"} {
		path := filepath.Join(s.opts.Dir, "config", id+".kubeconfig")
		if id == "admin" {
			path = s.Kubeconfig()
		}
		if err := writeKubeconfig(path, s.state.Server, s.pki, id, ""); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sandbox) kubeconfigFor(id string) string {
	return filepath.Join(s.opts.Dir, "config", id+".kubeconfig")
}

func (s *Sandbox) etcdArgs() []string {
	client := fmt.Sprintf("http://127.0.0.1:%d", s.state.Ports.Etcd)
	peer := fmt.Sprintf("http://127.0.0.1:%d", s.state.Ports.EtcdPeer)
	return []string{
		"--name=sandbox",
		"--data-dir=" + filepath.Join(s.opts.Dir, "etcd"),
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=sandbox=" + peer,
		"--unsafe-no-fsync=true", // throwaway data: skip fsync, it dominates on slow disks
		"--log-level=warn",
	}
}

func (s *Sandbox) apiserverArgs() []string {
	p := s.pki.Path
	return []string{
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", s.state.Ports.Etcd),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", s.state.Ports.APIServer),
		"--tls-cert-file=" + p("apiserver.crt"),
		"--tls-private-key-file=" + p("apiserver.key"),
		"--client-ca-file=" + p("ca.crt"),
		"--endpoint-reconciler-type=none",
		"--authorization-mode=Node,RBAC",
		"--service-cluster-ip-range=10.96.0.0/12",
		"--allow-privileged=true",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p("sa.pub"),
		"--service-account-signing-key-file=" + p("sa.key"),
		// API aggregation: the aggregator proxies to extension API servers with
		// the front-proxy client certificate; they trust the front-proxy CA.
		"--requestheader-client-ca-file=" + p("front-proxy-ca.crt"),
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + p("front-proxy-client.crt"),
		"--proxy-client-key-file=" + p("front-proxy-client.key"),
		// No kube-proxy or endpoints: APIServices point at ExternalName
		// Services, which the proxy resolves only with routing off.
		"--enable-aggregator-routing=false",
		"--profiling=false",
		"--v=1",
	}
}

func (s *Sandbox) controllerManagerArgs() []string {
	p := s.pki.Path
	kc := s.kubeconfigFor("controller-manager")
	return []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", s.state.Ports.ControllerManager),
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + p("sa.key"),
		"--root-ca-file=" + p("ca.crt"),
		"--cluster-signing-cert-file=" + p("ca.crt"),
		"--cluster-signing-key-file=" + p("ca.key"),
		"--horizontal-pod-autoscaler-sync-period=" + s.opts.HPASyncPeriod.String(),
		"--horizontal-pod-autoscaler-downscale-stabilization=" + s.opts.HPADownscaleStabilization.String(),
		"--profiling=false",
		"--v=1",
	}
}

func (s *Sandbox) schedulerArgs() []string {
	kc := s.kubeconfigFor("scheduler")
	return []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", s.state.Ports.Scheduler),
		"--leader-elect=false",
		"--profiling=false",
	}
}

func (s *Sandbox) kwokArgs(kwokDir string) ([]string, error) {
	k := filepath.Join(kwokDir, "kustomize")
	files := []string{
		// Stages: nodes become Ready and renew leases; pods get IPs and
		// Running/Ready; terminating pods go away.
		filepath.Join(k, "stage", "node", "fast", "node-initialize.yaml"),
		filepath.Join(k, "stage", "node", "heartbeat-with-lease", "node-heartbeat-with-lease.yaml"),
		filepath.Join(k, "stage", "pod", "fast", "pod-ready.yaml"),
		filepath.Join(k, "stage", "pod", "fast", "pod-complete.yaml"),
		filepath.Join(k, "stage", "pod", "fast", "pod-delete.yaml"),
		// Resource metrics for metrics-server, usage from pod annotations.
		filepath.Join(k, "metrics", "resource", "metrics-resource.yaml"),
		filepath.Join(k, "metrics", "usage", "usage-from-annotation.yaml"),
	}
	args := []string{
		"--kubeconfig=" + s.kubeconfigFor("kwok"),
		"--manage-nodes-with-annotation-selector=" + KwokNodeAnnotation + "=fake",
		"--node-ip=127.0.0.1",
		fmt.Sprintf("--node-port=%d", s.state.Ports.Kwok),
		fmt.Sprintf("--server-address=127.0.0.1:%d", s.state.Ports.Kwok),
		"--node-lease-duration-seconds=40",
		"--cidr=10.244.0.0/16",
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("kwok config %s: %w (is tools/cluster/kwok's module downloaded?)", f, err)
		}
		args = append(args, "--config="+f)
	}
	return args, nil
}

func (s *Sandbox) metricsServerArgs() []string {
	kc := s.kubeconfigFor("metrics-server")
	return []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", s.state.Ports.MetricsServer),
		"--tls-cert-file=" + s.pki.Path("serving.crt"),
		"--tls-private-key-file=" + s.pki.Path("serving.key"),
		"--kubelet-preferred-address-types=InternalIP",
		"--kubelet-use-node-status-port",
		"--kubelet-insecure-tls", // kwok serves a throwaway self-signed certificate
		"--metric-resolution=" + s.opts.MetricResolution.String(),
		"--kubelet-request-timeout=5s",
	}
}

// createNodes registers the fake GPU nodes kwok will manage.
func (s *Sandbox) createNodes(ctx context.Context, cs *kubernetes.Clientset) error {
	for _, name := range s.state.Nodes {
		capacity := corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("128"),
			corev1.ResourceMemory: resource.MustParse("1Ti"),
			corev1.ResourcePods:   resource.MustParse("110"),
			GPUResource:           *resource.NewQuantity(int64(s.opts.GPUsPerNode), resource.DecimalSI),
		}
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name: name,
				Labels: map[string]string{
					"kubernetes.io/hostname": name,
					"kubernetes.io/os":       "linux",
					"kubernetes.io/arch":     "amd64",
					"type":                   "kwok",
					GPUPresentLabel:          "true",
				},
				Annotations: map[string]string{
					KwokNodeAnnotation:                     "fake",
					"node.alpha.kubernetes.io/ttl":         "0",
					"metrics.k8s.io/resource-metrics-path": "/metrics/nodes/" + name + "/metrics/resource",
				},
			},
			Spec: corev1.NodeSpec{Taints: []corev1.Taint{{
				Key: KwokNodeAnnotation, Value: "fake", Effect: corev1.TaintEffectNoSchedule,
			}}},
			Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
		}
		if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create node %s: %w", name, err)
		}
	}
	return nil
}

// registerMetricsServer exposes metrics-server as v1beta1.metrics.k8s.io
// through an ExternalName Service; the aggregator verifies its certificate
// against metrics-server.kube-system.svc with the sandbox CA.
func (s *Sandbox) registerMetricsServer(ctx context.Context, cs *kubernetes.Clientset) error {
	port := int32(s.state.Ports.MetricsServer)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-server", Namespace: "kube-system"},
		Spec: corev1.ServiceSpec{
			Type:         corev1.ServiceTypeExternalName,
			ExternalName: "localhost",
			Ports:        []corev1.ServicePort{{Name: "https", Port: port, TargetPort: intstr.FromInt32(port)}},
		},
	}
	if _, err := cs.CoreV1().Services("kube-system").Create(ctx, svc, metav1.CreateOptions{}); err != nil &&
		!apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create metrics-server Service: %w", err)
	}
	ca, err := os.ReadFile(s.pki.Path("ca.crt"))
	if err != nil {
		return fmt.Errorf("read CA: %w", err)
	}
	ac, err := aggregator.NewForConfig(s.RESTConfig())
	if err != nil {
		return fmt.Errorf("aggregator client: %w", err)
	}
	apisvc := &apiregv1.APIService{
		ObjectMeta: metav1.ObjectMeta{Name: "v1beta1.metrics.k8s.io"},
		Spec: apiregv1.APIServiceSpec{
			Group:                "metrics.k8s.io",
			Version:              "v1beta1",
			Service:              &apiregv1.ServiceReference{Namespace: "kube-system", Name: "metrics-server", Port: &port},
			CABundle:             ca,
			GroupPriorityMinimum: 100,
			VersionPriority:      100,
		},
	}
	if _, err := ac.ApiregistrationV1().APIServices().Create(ctx, apisvc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create APIService v1beta1.metrics.k8s.io: %w", err)
	}
	return nil
}
