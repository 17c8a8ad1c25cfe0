package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/medical-kg/gpu-autoscaling/internal/prereq"
)

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
		if err := s.startKubeStateMetrics(ctx, cs); err != nil {
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
	// A new cluster has no rules ConfigMaps yet: rule files a previous
	// sandbox in this folder loaded must not be evaluated against it.
	if err := replaceFiles(s.rulesDir(), nil); err != nil {
		return nil, fmt.Errorf("clear rule files: %w", err)
	}
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
