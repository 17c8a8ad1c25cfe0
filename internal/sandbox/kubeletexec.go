package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/medical-kg/gpu-autoscaling/internal/prereq"
)

// kubeletSysctls are the kernel settings the kubelet writes at start
// (setupKernelTunables, protectKernelDefaults false) with the values it
// wants. On a shared machine they must not change (kernel.panic_on_oops=1
// would panic the machine on any oops), so the kubelet runs in a mount
// namespace of its own where these /proc/sys files are covered by plain
// files that already hold its values; protectKernelDefaults=true instead
// makes it refuse to start when they differ.
var kubeletSysctls = [][2]string{
	{"vm/overcommit_memory", "1"}, {"vm/panic_on_oom", "0"}, {"kernel/panic", "10"},
	{"kernel/panic_on_oops", "1"}, {"kernel/keys/root_maxkeys", "1000000"}, {"kernel/keys/root_maxbytes", "25000000"},
}

// kubeletShieldEnv makes a binary linking this package act as the kubelet's
// launcher: `<self> <fake-sysctl-dir> <kubelet> <args...>` with this
// variable set unshares the mount namespace, covers the sysctls and execs
// the kubelet (which then keeps the PID the sandbox recorded).
const kubeletShieldEnv = "GPU_AUTOSCALING_SANDBOX_KUBELET_SHIELD"

func init() {
	if os.Getenv(kubeletShieldEnv) != "1" {
		return
	}
	if err := execShieldedKubelet(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox kubelet launcher: %v\n", err)
		os.Exit(1)
	}
}

// execShieldedKubelet runs in the launcher process: args are the fake
// sysctl folder, the kubelet binary and its arguments. The host's mounts are
// private, so bind mounts over /proc/sys stay in this namespace; the
// kubelet's root dir was made shared beforehand, so the volumes it mounts
// there still reach containerd and runc in the host namespace.
func execShieldedKubelet(args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("usage: <fake-sysctl-dir> <kubelet> [args...], got %q", args)
	}
	dir, kubelet := args[0], args[1]
	runtime.LockOSThread() // the namespace belongs to this thread, which execs
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare the mount namespace: %w", err)
	}
	for _, kv := range kubeletSysctls {
		f := filepath.Join(dir, strings.ReplaceAll(kv[0], "/", "_"))
		if err := os.WriteFile(f, []byte(kv[1]+"\n"), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", f, err)
		}
		if err := unix.Mount(f, "/proc/sys/"+kv[0], "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("cover /proc/sys/%s: %w", kv[0], err)
		}
	}
	env := slicesWithout(os.Environ(), kubeletShieldEnv+"=1")
	return syscall.Exec(kubelet, args[1:], env)
}

func slicesWithout(list []string, drop string) []string {
	out := list[:0:0]
	for _, v := range list {
		if v != drop {
			out = append(out, v)
		}
	}
	return out
}

// shareMount makes dir a shared bind mount of itself, so mounts made below
// it in another mount namespace of the same peer group (the kubelet's)
// appear in the host's.
func shareMount(dir string) error {
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mount %s onto itself: %w", dir, err)
	}
	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		return fmt.Errorf("make %s a shared mount: %w", dir, err)
	}
	return nil
}

// startKubelet starts the kubelet through this binary's launcher mode.
func (s *Sandbox) startKubelet() (*process, error) {
	n := s.state.Node
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program to launch the kubelet: %w", err)
	}
	kubelet := s.bins[prereq.Kubelet]
	args := []string{
		"--config=" + n.configPath("kubelet.yaml"),
		"--kubeconfig=" + n.configPath("kubelet.kubeconfig"),
		"--root-dir=" + n.kubeletRoot(),
		"--cert-dir=" + filepath.Join(n.kubeletRoot(), "pki"),
		"--node-ip=" + n.IP,
		"--hostname-override=" + n.Name,
		"--node-labels=" + labels.SelectorFromSet(s.opts.NodeLabels).String(),
		// The kubelet's built-in cAdvisor asks containerd for each
		// container's pod, namespace and name at this socket (default
		// /run/containerd/containerd.sock); without it the cAdvisor series
		// carry no container labels and the dashboards' CPU and memory
		// panels find nothing. Deprecated, still served in 1.36.
		"--containerd=" + n.containerdSocket(),
		"--v=1",
	}
	p, err := startProcess("kubelet", kubelet, args, []string{kubeletShieldEnv + "=1"}, s.logDir(),
		[]string{self, n.fakeSysctlDir()})
	if err != nil {
		return nil, err
	}
	return p, s.track(p)
}
