package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrMissingBinary is wrapped by errors about cluster binaries that are not
// built yet; tests turn it into t.Skip.
var ErrMissingBinary = errors.New("cluster binary missing: run `make cluster-tools`")

// RequireEnv names the environment variable that turns a missing
// prerequisite (a cluster binary, helm, promtool) into a test failure instead
// of a skip. `make test` sets it after building every prerequisite, so a
// skipped cluster test can never pass for a green CI run.
const RequireEnv = "GPU_AUTOSCALING_REQUIRE_PREREQUISITES"

// Skipper is the part of testing.TB that SkipOrFail needs.
type Skipper interface {
	Helper()
	Skip(args ...any)
	Fatalf(format string, args ...any)
}

// SkipOrFail skips t because a prerequisite is missing, or fails it when
// RequireEnv is set.
func SkipOrFail(t Skipper, reason string) {
	t.Helper()
	if os.Getenv(RequireEnv) != "" {
		t.Fatalf("%s (a failure, not a skip: %s is set)", reason, RequireEnv)
	}
	t.Skip(reason)
}

// Binary names the sandbox runs.
const (
	BinEtcd              = "etcd"
	BinKubeAPIServer     = "kube-apiserver"
	BinControllerManager = "kube-controller-manager"
	BinScheduler         = "kube-scheduler"
	BinKwok              = "kwok"
	BinMetricsServer     = "metrics-server"
	BinPrometheus        = "prometheus"
	BinAdapter           = "prometheus-adapter"
	BinHelm              = "helm"
	BinKubectl           = "kubectl"
)

// ClusterBinaries are the binaries Up needs.
var ClusterBinaries = []string{BinEtcd, BinKubeAPIServer, BinControllerManager, BinScheduler, BinKwok,
	BinMetricsServer, BinPrometheus}

// RepoRoot finds the repository root (the folder holding go.mod and
// tools/cluster) from the working directory upwards.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "tools", "cluster", "build.sh")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root not found above the working directory (looked for tools/cluster/build.sh)")
		}
		dir = parent
	}
}

// BinDir returns the folder holding the project's binaries:
// $GPU_AUTOSCALING_BIN, else <repo>/bin.
func BinDir() (string, error) {
	if dir := os.Getenv("GPU_AUTOSCALING_BIN"); dir != "" {
		return dir, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", fmt.Errorf("locate bin folder (set GPU_AUTOSCALING_BIN): %w", err)
	}
	return filepath.Join(root, "bin"), nil
}

// FindBinary returns the path of a binary from the project bin folder. An
// error wrapping ErrMissingBinary says what to build.
func FindBinary(name string) (string, error) {
	dir, err := BinDir()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	info, err := os.Stat(path)
	if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		hint := "make cluster-tools"
		if name == BinHelm || name == BinKubectl {
			hint = "make tools"
		}
		return "", fmt.Errorf("%w: %s not found in %s (build it with `%s`)", ErrMissingBinary, name, dir, hint)
	}
	return path, nil
}

// findBinaries resolves several binaries and reports every missing one.
func findBinaries(names ...string) (map[string]string, error) {
	paths := make(map[string]string, len(names))
	var missing []string
	for _, n := range names {
		p, err := FindBinary(n)
		if err != nil {
			if errors.Is(err, ErrMissingBinary) {
				missing = append(missing, n)
				continue
			}
			return nil, err
		}
		paths[n] = p
	}
	if len(missing) > 0 {
		dir, _ := BinDir()
		return nil, fmt.Errorf("%w: %s not in %s", ErrMissingBinary, strings.Join(missing, ", "), dir)
	}
	return paths, nil
}

// kwokModuleDir returns the folder of the sigs.k8s.io/kwok module the tools
// module pins; its kustomize/ folder holds the stage and metrics YAMLs the
// sandbox passes to kwok (they are read from there, not copied into the repo).
func kwokModuleDir(ctx context.Context) (string, error) {
	if dir := os.Getenv("GPU_AUTOSCALING_KWOK_DIR"); dir != "" {
		return dir, nil
	}
	root, err := RepoRoot()
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
		return "", fmt.Errorf("%w: sigs.k8s.io/kwok module not downloaded (run `make cluster-tools`)", ErrMissingBinary)
	}
	return dir, nil
}
