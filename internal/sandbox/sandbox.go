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
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
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
	// NodeLabels are the real node's labels (kubelet --node-labels; default
	// nvidia.com/gpu.present=true, as the GPU Operator labels GPU nodes). The
	// e2e suite gives it only a cloud platform's GPU label instead, to prove
	// the exporter finds such nodes.
	NodeLabels map[string]string
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
	if o.NodeLabels == nil {
		o.NodeLabels = map[string]string{contract.GPUPresentLabel: "true"}
	}
	for k, v := range o.NodeLabels {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return o, fmt.Errorf("NodeLabels: key %q: %s", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return o, fmt.Errorf("NodeLabels: value %q of %s: %s", v, k, strings.Join(errs, "; "))
		}
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

// ColdStart is how long the last Up took.
func (s *Sandbox) ColdStart() string { return s.state.ColdStart }
