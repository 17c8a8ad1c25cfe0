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
)

// ErrEnvironment is wrapped by errors saying that this machine cannot run
// the real node (not root, no memory cgroup, another node running); the
// message says what is missing and how to get it.
var ErrEnvironment = errors.New("the machine cannot run the sandbox's real node")

// nodeEnvironment is what the node needs from the machine, probed through
// functions so that every refusal can be tested.
type nodeEnvironment struct {
	euid          func() int
	memoryCgroup  func() (string, error)
	stat          func(string) (os.FileInfo, error)
	lookPath      func(string) (string, error)
	socketAnswers func(context.Context, string) bool
	imagesDir     string
}

func hostEnvironment(imagesDir string) nodeEnvironment {
	return nodeEnvironment{euid: os.Geteuid, memoryCgroup: ownMemoryCgroup, stat: os.Stat, lookPath: exec.LookPath,
		socketAnswers: func(ctx context.Context, p string) bool { ok, _ := socketAnswers(p)(ctx); return ok },
		imagesDir:     imagesDir}
}

// checkNodeEnvironment checks, before anything starts, what the real node
// needs from the machine: root, the memory cgroup, Debian's runc, CNI
// plugins and iptables, the built images, and no other kubelet on the fixed
// device-plugin folder.
func (s *Sandbox) checkNodeEnvironment(ctx context.Context) error {
	return hostEnvironment(s.opts.ImagesDir).check(ctx)
}

func (e nodeEnvironment) check(ctx context.Context) error {
	if e.euid() != 0 {
		return fmt.Errorf("%w: it needs root (containers, mounts, a network bridge, cgroups); run as root, or start the sandbox with kwok nodes only (--kwok-only)", ErrEnvironment)
	}
	if _, err := e.memoryCgroup(); err != nil {
		return fmt.Errorf("%w: %v", ErrEnvironment, err)
	}
	if _, err := e.stat(filepath.Join(cgroupMount, "memory")); err != nil {
		return fmt.Errorf("%w: no memory cgroup hierarchy at %s/memory (cgroup v1 is what the sandbox is proven on): %v", ErrEnvironment, cgroupMount, err)
	}
	var missing []string
	for _, p := range []string{runcBinary, filepath.Join(cniBinDir, "bridge"), filepath.Join(cniBinDir, "host-local"),
		filepath.Join(cniBinDir, "loopback"), filepath.Join(cniBinDir, "portmap")} {
		if _, err := e.stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	for _, b := range []string{"iptables", "iptables-save", "ip6tables", "ip6tables-save"} {
		if _, err := e.lookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s not installed (Debian packages runc, containernetworking-plugins, iptables: `make cluster-tools` installs them)", prereq.ErrMissing, strings.Join(missing, ", "))
	}
	if _, err := imageArchives(e.imagesDir); err != nil {
		return err
	}
	sock := filepath.Join(DevicePluginDir, "kubelet.sock")
	if _, err := e.stat(sock); err == nil && e.socketAnswers(ctx, sock) {
		how := "stop it first (`sandbox down --dir DIR`)"
		if dir := runningSandboxDir(); dir != "" {
			how = fmt.Sprintf("stop it first: go run ./scripts/cmd/sandbox down --dir %s", dir)
		}
		return fmt.Errorf("%w: a kubelet already serves %s: another real node runs on this machine (one per machine); %s", ErrEnvironment, sock, how)
	}
	return nil
}

// runningSandboxDir finds the state folder of a running sandbox's node from
// its kubelet's --root-dir (<dir>/node/kubelet); empty when there is none.
func runningSandboxDir() string {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) == 0 || filepath.Base(args[0]) != "kubelet" {
			continue
		}
		for _, a := range args {
			if root, ok := strings.CutPrefix(a, "--root-dir="); ok && strings.HasSuffix(root, "/node/kubelet") {
				return strings.TrimSuffix(root, "/node/kubelet")
			}
		}
	}
	return ""
}
