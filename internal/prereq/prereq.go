// Package prereq finds the binaries the project builds for itself (helm,
// kubectl, the sandbox's cluster binaries) and decides what a test does when
// one is missing: skip with the reason when run by hand, fail under `make
// test`, which builds every prerequisite first and sets RequireEnv.
package prereq

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/medical-kg/gpu-autoscaling/internal/repo"
)

// RequireEnv names the environment variable that turns a missing
// prerequisite into a test failure instead of a skip, so a skipped test can
// never pass for a green CI run.
const RequireEnv = "GPU_AUTOSCALING_REQUIRE_PREREQUISITES"

// BinEnv overrides the folder of the project's binaries (default <repo>/bin).
const BinEnv = "GPU_AUTOSCALING_BIN"

// ErrMissing is wrapped by errors about prerequisites that are not built or
// installed yet; the error text says how to get them.
var ErrMissing = errors.New("prerequisite missing")

// Names of the binaries the project builds into its bin folder.
const (
	Etcd              = "etcd"
	KubeAPIServer     = "kube-apiserver"
	ControllerManager = "kube-controller-manager"
	Scheduler         = "kube-scheduler"
	Kwok              = "kwok"
	MetricsServer     = "metrics-server"
	Prometheus        = "prometheus"
	Promtool          = "promtool"
	Adapter           = "prometheus-adapter"
	Helm              = "helm"
	Kubectl           = "kubectl"
	// The real node's binaries.
	Containerd     = "containerd"
	ContainerdShim = "containerd-shim-runc-v2"
	Ctr            = "ctr"
	Kubelet        = "kubelet"
	KubeProxy      = "kube-proxy"
)

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
		return
	}
	t.Skip(reason)
}

// BinDir is the folder holding the project's binaries: $GPU_AUTOSCALING_BIN,
// else <repo>/bin.
func BinDir() (string, error) {
	if dir := os.Getenv(BinEnv); dir != "" {
		return dir, nil
	}
	dir, err := repo.Path("bin")
	if err != nil {
		return "", fmt.Errorf("locate the bin folder (or set %s): %w", BinEnv, err)
	}
	return dir, nil
}

// hint says which make target builds a binary.
func hint(name string) string {
	switch name {
	case Helm, Kubectl:
		return "make tools"
	default:
		return "make cluster-tools"
	}
}

// FindBinary returns the path of a binary in the bin folder. An error
// wrapping ErrMissing says what to build.
func FindBinary(name string) (string, error) {
	dir, err := BinDir()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	info, err := os.Stat(path)
	if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%w: %s not found in %s (build it with `%s`)", ErrMissing, name, dir, hint(name))
	}
	return path, nil
}

// FindBinaries resolves several binaries and names every missing one.
func FindBinaries(names ...string) (map[string]string, error) {
	paths := make(map[string]string, len(names))
	var missing, hints []string
	seen := map[string]bool{}
	for _, n := range names {
		p, err := FindBinary(n)
		if err != nil {
			if !errors.Is(err, ErrMissing) {
				return nil, err
			}
			missing = append(missing, n)
			if h := hint(n); !seen[h] {
				seen[h] = true
				hints = append(hints, "`"+h+"`")
			}
			continue
		}
		paths[n] = p
	}
	if len(missing) > 0 {
		dir, _ := BinDir()
		return nil, fmt.Errorf("%w: %s not built in %s (run %s)", ErrMissing, strings.Join(missing, ", "), dir, strings.Join(hints, " and "))
	}
	return paths, nil
}

// PutBinFirstOnPath makes commands run by name (Terratest runs `helm` from
// PATH) resolve to the project's pinned binaries. `make` already puts bin/
// first; a plain `go test` does not.
func PutBinFirstOnPath() error {
	dir, err := BinDir()
	if err != nil {
		return err
	}
	helm := filepath.Join(dir, Helm)
	if got, err := exec.LookPath(Helm); err == nil {
		want, werr := filepath.EvalSymlinks(helm)
		resolved, rerr := filepath.EvalSymlinks(got)
		if werr == nil && rerr == nil && resolved == want {
			return nil
		}
	}
	if err := os.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH")); err != nil {
		return fmt.Errorf("put %s first on PATH: %w", dir, err)
	}
	return nil
}
