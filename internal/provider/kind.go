package provider

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
)

// Kind creates a kind cluster through sigs.k8s.io/kind when a container
// engine answers `docker info`. The suite then needs a Prometheus it can
// reach ($GPU_AUTOSCALING_E2E_PROMETHEUS_URL).
type Kind struct {
	// ClusterName of the kind cluster to create.
	ClusterName string
	// Dir receives its kubeconfig.
	Dir string
}

func (Kind) Name() string { return "kind" }

// Available runs `docker info`; kind needs a working engine.
func (p Kind) Available(ctx context.Context) error {
	if _, err := exec.LookPath("docker"); err != nil {
		return fmt.Errorf("%w: kind needs a container engine and `docker` is not installed", ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info").CombinedOutput(); err != nil {
		return fmt.Errorf("%w: `docker info` failed (%v): %s", ErrUnavailable, err, strings.TrimSpace(lastLine(string(out))))
	}
	if os.Getenv(EnvPrometheusURL) == "" {
		return fmt.Errorf("%w: %s is not set (a Prometheus scraping the kind cluster, reachable from here)", ErrUnavailable, EnvPrometheusURL)
	}
	return nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func (p Kind) Start(ctx context.Context) (Cluster, error) {
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
	return kubeconfigCluster{name: "kind", path: kubeconfig, cfg: cfg, prometheus: os.Getenv(EnvPrometheusURL),
		values: valuesFromEnv([]string{"values/kind.yaml"}, []string{"values/gpu-services/kind.yaml"}),
		close:  func() error { return provider.Delete(p.ClusterName, kubeconfig) }}, nil
}
