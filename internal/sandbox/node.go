package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"

	"github.com/medical-kg/gpu-autoscaling/internal/prereq"
)

// The real node: one kubelet + containerd node per machine (the kubelet's
// device-plugin folder is a fixed path), on a bridge the sandbox creates.
const (
	// NodeName is the real node's name (and hostname override).
	NodeName = "gpu-node-0"
	// nodeBridge carries the node IP; pods are attached to it by the CNI
	// bridge plugin. Its address is the node IP, the pods' gateway and the
	// address every host process pods must reach listens on.
	nodeBridge = "gpuas0"
	nodeIP     = "10.200.0.1"
	nodePrefix = 24
	nodeCIDR   = "10.200.0.0/24"
	podFirstIP = "10.200.0.10"
	podLastIP  = "10.200.0.250"
	// nodeCgroupName is appended to the memory cgroup this process runs in:
	// every pod and container stays below it (the machine accounts for our
	// processes through that cgroup).
	nodeCgroupName = "gpuas-node"
	// DevicePluginDir is the kubelet's fixed device-plugin folder.
	DevicePluginDir = pluginapi.DevicePluginPath
)

// NodeState is what the state file records about the real node, so that
// `sandbox down` from another process can take it apart.
type NodeState struct {
	Name string `json:"name"`
	IP   string `json:"ip"`
	// Dir holds the node's state: containerd root and state, kubelet root
	// and certificates, CNI config and IPAM, logs of pods.
	Dir string `json:"dir"`
	// ShortDir holds sockets whose paths must be short (containerd's shim
	// socket folder: at most 42 characters).
	ShortDir string `json:"shortDir"`
	// Bridge is the node network's bridge, when the sandbox created it.
	Bridge string `json:"bridge,omitempty"`
	// CgroupRoot is the kubelet's cgroupRoot; CgroupDirs the folders the
	// sandbox created for it in each hierarchy, in creation order.
	CgroupRoot string   `json:"cgroupRoot"`
	CgroupDirs []string `json:"cgroupDirs,omitempty"`
	// RootDirShared: the kubelet root dir was made a shared bind mount.
	RootDirShared bool `json:"rootDirShared,omitempty"`
	// Ports of the kubelet and kube-proxy.
	KubeletPort        int `json:"kubeletPort"`
	KubeletHealthzPort int `json:"kubeletHealthzPort"`
	ProxyHealthzPort   int `json:"proxyHealthzPort"`
	ProxyMetricsPort   int `json:"proxyMetricsPort"`
}

// Paths inside the node's folders.
func (n *NodeState) containerdDir() string      { return filepath.Join(n.Dir, "containerd") }
func (n *NodeState) containerdSocket() string   { return filepath.Join(n.ShortDir, "containerd.sock") }
func (n *NodeState) kubeletRoot() string        { return filepath.Join(n.Dir, "kubelet") }
func (n *NodeState) cniConfDir() string         { return filepath.Join(n.Dir, "cni", "net.d") }
func (n *NodeState) fakeSysctlDir() string      { return filepath.Join(n.Dir, "sysctl") }
func (n *NodeState) configPath(f string) string { return filepath.Join(n.Dir, "config", f) }

// PodResourcesDir is the folder of the kubelet's pod-resources socket (it
// follows --root-dir): the exporter's hostPath in the sandbox.
func (n *NodeState) PodResourcesDir() string { return filepath.Join(n.kubeletRoot(), "pod-resources") }

// shortDirFor derives a short socket folder from the sandbox folder, so two
// state folders never share one.
func shortDirFor(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	return "/run/gpuas-" + hex.EncodeToString(sum[:])[:12]
}

// newNodeState lays out the real node of a sandbox in dir.
func newNodeState(dir string, ports []int) *NodeState {
	return &NodeState{Name: NodeName, IP: nodeIP, Dir: filepath.Join(dir, "node"), ShortDir: shortDirFor(dir),
		KubeletPort: ports[0], KubeletHealthzPort: ports[1], ProxyHealthzPort: ports[2], ProxyMetricsPort: ports[3]}
}

// nodeBinaries are the binaries the real node runs.
var nodeBinaries = []string{prereq.Containerd, prereq.ContainerdShim, prereq.Ctr, prereq.Kubelet, prereq.KubeProxy}

// startNode brings the real node up: cgroups, node certificates and
// configuration, containerd, the project's images, the kubelet (shielded
// from rewriting the machine's sysctls) and kube-proxy. It returns once the
// node is Ready.
func (s *Sandbox) startNode(ctx context.Context) error {
	n := s.state.Node
	start := time.Now()
	for _, d := range []string{n.Dir, n.ShortDir, n.fakeSysctlDir(), filepath.Dir(n.configPath("x")), n.cniConfDir(), n.kubeletRoot()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	var err error
	if n.CgroupDirs, n.CgroupRoot, err = createCgroupRoot(nodeCgroupName); err != nil {
		return err
	}
	if err := s.saveState(); err != nil {
		return err
	}
	if err := s.writeNodeFiles(); err != nil {
		return err
	}
	containerd, err := s.start("containerd", prereq.Containerd, []string{"--config=" + n.configPath("containerd.toml")})
	if err != nil {
		return err
	}
	if err := waitFor(ctx, "containerd", 100*time.Millisecond, []*process{containerd}, socketAnswers(n.containerdSocket())); err != nil {
		return err
	}
	if err := s.importImages(ctx); err != nil {
		return err
	}
	s.opts.Logf("sandbox: containerd up, images imported (%s)", time.Since(start).Round(time.Millisecond))
	if err := shareMount(n.kubeletRoot()); err != nil {
		return err
	}
	n.RootDirShared = true
	if err := s.saveState(); err != nil {
		return err
	}
	kubelet, err := s.startKubelet()
	if err != nil {
		return err
	}
	proxy, err := s.start("kube-proxy", prereq.KubeProxy, []string{"--config=" + n.configPath("kube-proxy.yaml"), "--v=1"})
	if err != nil {
		return err
	}
	cs, err := s.Clientset()
	if err != nil {
		return err
	}
	if err := waitFor(ctx, "node "+n.Name+" Ready", 200*time.Millisecond, []*process{containerd, kubelet, proxy},
		nodeIsReady(cs, n.Name)); err != nil {
		return err
	}
	s.opts.Logf("sandbox: node %s Ready (%s)", n.Name, time.Since(start).Round(time.Millisecond))
	return nil
}

// stopNode takes the real node apart in the order that leaves nothing
// behind: the kubelet first (or it restarts what is removed), every pod
// sandbox through the CRI while containerd still runs, kube-proxy and the
// rules it and the kubelet made, containerd and any shim left, every mount
// below the node's folders, the cgroups, the fixed paths.
func (s *Sandbox) stopNode(ctx context.Context) error {
	n := s.state.Node
	var errs []error
	for _, name := range []string{"kubelet"} {
		if p := s.process(name); p != nil {
			errs = append(errs, p.stop(10*time.Second))
		}
	}
	if p := s.process("containerd"); p != nil && !p.exited() {
		rmCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
		errs = append(errs, removePodSandboxes(rmCtx, n.containerdSocket()))
		cancel()
	}
	if p := s.process("kube-proxy"); p != nil {
		errs = append(errs, p.stop(10*time.Second))
		if bin := p.Binary; bin != "" {
			if out, err := exec.CommandContext(ctx, bin, "--cleanup", "--v=0").CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("kube-proxy --cleanup: %w: %s", err, strings.TrimSpace(string(out))))
			}
		}
	}
	errs = append(errs, removeKubeChains())
	if p := s.process("containerd"); p != nil {
		errs = append(errs, p.stop(10*time.Second))
		if shim, err := prereq.FindBinary(prereq.ContainerdShim); err == nil {
			killShims(shim, n.containerdSocket())
		}
	}
	errs = append(errs, unmountUnder(n.Dir, n.ShortDir))
	errs = append(errs, removeCgroupRoot(n.CgroupRoot, n.CgroupDirs))
	removeFixedPaths(n.Dir, "gpuas")
	errs = append(errs, os.RemoveAll(n.ShortDir))
	s.mu.Lock()
	kept := s.procs[:0]
	for _, p := range s.procs {
		if p.Name != "kubelet" && p.Name != "kube-proxy" && p.Name != "containerd" {
			kept = append(kept, p)
		}
	}
	s.procs = kept
	s.mu.Unlock()
	return errors.Join(errs...)
}
