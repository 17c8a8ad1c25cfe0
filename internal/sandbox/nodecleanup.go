package sandbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// unmountUnder unmounts every mount point below the given folders, deepest
// first (container root filesystems, shm, network namespaces, the kubelet's
// volumes), then the folders themselves if they are mount points.
func unmountUnder(dirs ...string) error {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("read mountinfo: %w", err)
	}
	var points []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		for _, d := range dirs {
			if d != "" && (mp == d || strings.HasPrefix(mp, d+"/")) {
				points = append(points, mp)
			}
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	var errs []error
	for _, mp := range points {
		if err := unix.Unmount(mp, 0); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
				errs = append(errs, fmt.Errorf("unmount %s: %w", mp, err))
			}
		}
	}
	return errors.Join(errs...)
}

// unescapeMount decodes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeKubeChains deletes the KUBE-* chains kube-proxy's own cleanup leaves
// (the kubelet's canary, firewall and hint chains), IPv4 and IPv6: the jump
// rules into them first, then the chains. They exist only because of the
// sandbox's node: one real node per machine.
func removeKubeChains() error {
	var errs []error
	for _, family := range []string{"iptables", "ip6tables"} {
		out, err := exec.Command(family + "-save").Output()
		if err != nil {
			if errors.Is(err, exec.ErrNotFound) {
				continue
			}
			errs = append(errs, fmt.Errorf("%s-save: %w", family, err))
			continue
		}
		errs = append(errs, deleteKubeRules(family, string(out))...)
	}
	return errors.Join(errs...)
}

// deleteKubeRules removes, per table of an iptables-save dump, the rules
// that jump to KUBE-* chains and then those chains.
func deleteKubeRules(family, dump string) []error {
	var errs []error
	table := ""
	var chains []string
	run := func(args ...string) {
		if out, err := exec.Command(family, args...).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w: %s", family, strings.Join(args, " "), err, strings.TrimSpace(string(out))))
		}
	}
	flush := func() {
		for _, c := range chains {
			run("-t", table, "-F", c)
		}
		for _, c := range chains {
			run("-t", table, "-X", c)
		}
		chains = nil
	}
	for _, line := range strings.Split(dump, "\n") {
		switch {
		case strings.HasPrefix(line, "*"):
			table = strings.TrimPrefix(line, "*")
		case strings.HasPrefix(line, ":KUBE-"):
			chains = append(chains, strings.Fields(line[1:])[0])
		case strings.HasPrefix(line, "-A ") && strings.Contains(line, " -j KUBE-"):
			rule := strings.Fields(line)
			if !strings.HasPrefix(rule[1], "KUBE-") {
				run(append([]string{"-t", table, "-D"}, rule[1:]...)...)
			}
		case line == "COMMIT":
			flush()
		}
	}
	return errs
}

// killShims ends containerd shims of this node that outlived containerd
// (their command line names the node's containerd address).
func killShims(shim, address string) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, _ := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.TrimSuffix(exe, " (deleted)") == shim && bytes.Contains(cmdline, []byte(address)) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// removeFixedPaths removes what the kubelet, libcni and the device manager
// leave at paths they do not let us configure, and then those folders when
// they are empty: the device-plugin sockets and checkpoint, container log
// links into the node folder, and this network's CNI result cache.
func removeFixedPaths(nodeDir, cniName string) {
	if entries, err := os.ReadDir(DevicePluginDir); err == nil {
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".sock") || e.Name() == "kubelet_internal_checkpoint" {
				_ = os.Remove(filepath.Join(DevicePluginDir, e.Name()))
			}
		}
	}
	removeMatching("/var/log/containers", func(p string) bool {
		target, err := os.Readlink(p)
		return err == nil && strings.HasPrefix(target, nodeDir+"/")
	})
	removeMatching("/var/lib/cni/results", func(p string) bool { return strings.HasPrefix(filepath.Base(p), cniName+"-") })
	for _, d := range []string{DevicePluginDir, filepath.Dir(DevicePluginDir), "/var/log/containers", "/var/lib/cni/results", "/var/lib/cni"} {
		_ = unix.Rmdir(d) // only when empty
	}
}

func removeMatching(dir string, match func(string) bool) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if p := filepath.Join(dir, e.Name()); match(p) {
			_ = os.Remove(p)
		}
	}
}
