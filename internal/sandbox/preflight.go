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

// checkNodeEnvironment checks, before anything starts, what the real node
// needs from the machine: root, the memory cgroup, Debian's runc, CNI
// plugins and iptables, the built images, and no other kubelet on the fixed
// device-plugin folder.
func (s *Sandbox) checkNodeEnvironment(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: it needs root (containers, mounts, a network bridge, cgroups); run as root, or start the sandbox with kwok nodes only", ErrEnvironment)
	}
	if _, err := ownMemoryCgroup(); err != nil {
		return fmt.Errorf("%w: %v", ErrEnvironment, err)
	}
	if _, err := os.Stat(filepath.Join(cgroupMount, "memory")); err != nil {
		return fmt.Errorf("%w: no memory cgroup hierarchy at %s/memory (cgroup v1 is what the sandbox is proven on): %v", ErrEnvironment, cgroupMount, err)
	}
	var missing []string
	for _, p := range []string{runcBinary, filepath.Join(cniBinDir, "bridge"), filepath.Join(cniBinDir, "host-local"),
		filepath.Join(cniBinDir, "loopback"), filepath.Join(cniBinDir, "portmap")} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	for _, b := range []string{"iptables", "iptables-save", "ip6tables", "ip6tables-save"} {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s not installed (Debian packages runc, containernetworking-plugins, iptables: `make cluster-tools` installs them)", prereq.ErrMissing, strings.Join(missing, ", "))
	}
	if _, err := imageArchives(s.opts.ImagesDir); err != nil {
		return err
	}
	sock := filepath.Join(DevicePluginDir, "kubelet.sock")
	if _, err := os.Stat(sock); err == nil {
		if ok, _ := socketAnswers(sock)(ctx); ok {
			return fmt.Errorf("%w: a kubelet already serves %s: another real node runs on this machine (one per machine); stop it first (`sandbox down --dir DIR`)", ErrEnvironment, sock)
		}
		_ = os.Remove(sock) // a dead kubelet's leftover
	}
	return nil
}
