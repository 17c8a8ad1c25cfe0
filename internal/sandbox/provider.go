package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"

	"github.com/medical-kg/gpu-autoscaling/internal/prereq"
)

// ErrProviderUnavailable is wrapped by errors that say why a provider cannot
// run here (no container engine, no KUBECONFIG); tests turn it into t.Skip.
var ErrProviderUnavailable = errors.New("cluster provider unavailable")

// Cluster is a running cluster the e2e suites can target.
type Cluster interface {
	// Provider names where the cluster comes from: sandbox, existing or kind.
	Provider() string
	// Kubeconfig is the path of an admin kubeconfig.
	Kubeconfig() string
	// RESTConfig is the admin client configuration.
	RESTConfig() *rest.Config
	// Sandbox returns the embedded cluster when Provider is "sandbox" (its GPU
	// plane runs the adapter and exporters as processes), else nil.
	Sandbox() *Sandbox
	// Close stops what the provider started (an existing cluster is left alone).
	Close(ctx context.Context) error
}

// Provider creates or connects to a cluster.
type Provider interface {
	Name() string
	// Available returns nil, or an error wrapping ErrProviderUnavailable that
	// says what is missing.
	Available(ctx context.Context) error
	Start(ctx context.Context) (Cluster, error)
}

// ProviderFromEnv picks the provider named by $GPU_AUTOSCALING_E2E_PROVIDER:
// sandbox (default), existing (the cluster $KUBECONFIG points at) or kind.
func ProviderFromEnv(opts Options) (Provider, error) {
	switch name := os.Getenv("GPU_AUTOSCALING_E2E_PROVIDER"); name {
	case "", "sandbox":
		return SandboxProvider{Options: opts}, nil
	case "existing":
		return ExistingProvider{Kubeconfig: os.Getenv("KUBECONFIG")}, nil
	case "kind":
		return KindProvider{ClusterName: "gpu-autoscaling-e2e", Dir: opts.Dir}, nil
	default:
		return nil, fmt.Errorf("GPU_AUTOSCALING_E2E_PROVIDER=%q: use sandbox, existing or kind", name)
	}
}

// SandboxProvider starts the embedded cluster.
type SandboxProvider struct{ Options Options }

func (SandboxProvider) Name() string { return "sandbox" }

// Available checks that every cluster binary is built.
func (SandboxProvider) Available(context.Context) error {
	if _, err := prereq.FindBinaries(ClusterBinaries...); err != nil {
		return fmt.Errorf("%w: %w", ErrProviderUnavailable, err)
	}
	return nil
}

func (p SandboxProvider) Start(ctx context.Context) (Cluster, error) {
	sb, err := New(p.Options)
	if err != nil {
		return nil, err
	}
	if err := sb.Up(ctx); err != nil {
		return nil, err
	}
	return sandboxCluster{sb}, nil
}

type sandboxCluster struct{ sb *Sandbox }

func (c sandboxCluster) Provider() string                { return "sandbox" }
func (c sandboxCluster) Kubeconfig() string              { return c.sb.Kubeconfig() }
func (c sandboxCluster) RESTConfig() *rest.Config        { return c.sb.RESTConfig() }
func (c sandboxCluster) Sandbox() *Sandbox               { return c.sb }
func (c sandboxCluster) Close(ctx context.Context) error { return c.sb.Down(ctx) }

// ExistingProvider uses a cluster that is already running.
type ExistingProvider struct{ Kubeconfig string }

func (ExistingProvider) Name() string { return "existing" }

func (p ExistingProvider) Available(ctx context.Context) error {
	if p.Kubeconfig == "" {
		return fmt.Errorf("%w: KUBECONFIG is not set", ErrProviderUnavailable)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", p.Kubeconfig)
	if err != nil {
		return fmt.Errorf("%w: KUBECONFIG %s: %w", ErrProviderUnavailable, p.Kubeconfig, err)
	}
	cfg.Timeout = 5 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrProviderUnavailable, err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{}); err != nil {
		return fmt.Errorf("%w: cluster in %s does not answer: %w", ErrProviderUnavailable, p.Kubeconfig, err)
	}
	return nil
}

func (p ExistingProvider) Start(ctx context.Context) (Cluster, error) {
	if err := p.Available(ctx); err != nil {
		return nil, err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", p.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", p.Kubeconfig, err)
	}
	return kubeconfigCluster{provider: "existing", path: p.Kubeconfig, cfg: cfg}, nil
}

type kubeconfigCluster struct {
	provider string
	path     string
	cfg      *rest.Config
	close    func() error
}

func (c kubeconfigCluster) Provider() string         { return c.provider }
func (c kubeconfigCluster) Kubeconfig() string       { return c.path }
func (c kubeconfigCluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.cfg) }
func (c kubeconfigCluster) Sandbox() *Sandbox        { return nil }
func (c kubeconfigCluster) Close(context.Context) error {
	if c.close == nil {
		return nil
	}
	return c.close()
}

// KindProvider creates a kind cluster through sigs.k8s.io/kind when a
// container engine answers `docker info`.
type KindProvider struct {
	// ClusterName of the kind cluster to create.
	ClusterName string
	// Dir receives its kubeconfig.
	Dir string
}

func (KindProvider) Name() string { return "kind" }

// Available runs `docker info`; kind needs a working engine.
func (p KindProvider) Available(ctx context.Context) error {
	if _, err := exec.LookPath("docker"); err != nil {
		return fmt.Errorf("%w: kind needs a container engine and `docker` is not installed", ErrProviderUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info").CombinedOutput(); err != nil {
		return fmt.Errorf("%w: `docker info` failed (%v): %s", ErrProviderUnavailable, err,
			strings.TrimSpace(lastLine(string(out))))
	}
	return nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func (p KindProvider) Start(ctx context.Context) (Cluster, error) {
	if err := p.Available(ctx); err != nil {
		return nil, err
	}
	dir := p.Dir
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	kubeconfig := filepath.Join(dir, "kind-kubeconfig")
	provider := kindcluster.NewProvider()
	if err := provider.Create(p.ClusterName, kindcluster.CreateWithKubeconfigPath(kubeconfig),
		kindcluster.CreateWithWaitForReady(3*time.Minute)); err != nil {
		return nil, fmt.Errorf("kind create cluster %s: %w", p.ClusterName, err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", kubeconfig, err)
	}
	return kubeconfigCluster{provider: "kind", path: kubeconfig, cfg: cfg,
		close: func() error { return provider.Delete(p.ClusterName, kubeconfig) }}, nil
}
