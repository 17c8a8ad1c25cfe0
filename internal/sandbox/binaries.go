package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/medical-kg/gpu-autoscaling/internal/prereq"
	"github.com/medical-kg/gpu-autoscaling/internal/repo"
)

// ClusterBinaries are the binaries every sandbox needs (kwok nodes add kwok,
// the real node nodeBinaries).
var ClusterBinaries = []string{prereq.Etcd, prereq.KubeAPIServer, prereq.ControllerManager, prereq.Scheduler,
	prereq.MetricsServer, prereq.Prometheus}

// kwokModuleDir returns the folder of the sigs.k8s.io/kwok module the tools
// module pins; its kustomize/ folder holds the stage and metrics YAMLs the
// sandbox passes to kwok (they are read from there, not copied into the repo).
func kwokModuleDir(ctx context.Context) (string, error) {
	if dir := os.Getenv("GPU_AUTOSCALING_KWOK_DIR"); dir != "" {
		return dir, nil
	}
	root, err := repo.Root()
	if err != nil {
		return "", fmt.Errorf("locate the kwok module (set GPU_AUTOSCALING_KWOK_DIR): %w", err)
	}
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kwok")
	cmd.Dir = filepath.Join(root, "tools", "cluster", "kwok")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("go list sigs.k8s.io/kwok in tools/cluster/kwok: %w: %s", err, ee.Stderr)
		}
		return "", fmt.Errorf("go list sigs.k8s.io/kwok in tools/cluster/kwok: %w", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("%w: sigs.k8s.io/kwok module not downloaded (run `make cluster-tools`)", prereq.ErrMissing)
	}
	return dir, nil
}
