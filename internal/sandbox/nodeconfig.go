package sandbox

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"text/template"

	"github.com/medical-kg/gpu-autoscaling/internal/images"
	"github.com/medical-kg/gpu-autoscaling/internal/prereq"
	"github.com/medical-kg/gpu-autoscaling/internal/repo"
)

// Debian's runc and CNI plugins (installed by `make cluster-tools`).
const (
	runcBinary = "/usr/sbin/runc"
	cniBinDir  = "/usr/lib/cni"
)

// nodeConfig is what the node's configuration templates need.
type nodeConfig struct {
	*NodeState
	CA, Server, PKIDir string
	Shim               string
	Runc, CNIBin       string
	SandboxImage       string
	CNIName, Bridge    string
	CIDR, First, Last  string
	SyncFrequency      string
	StatusUpdatePeriod string
}

// The configuration files, as proven on the project's machines (see
// internal/sandbox/README.md: why each setting is there).
var nodeTemplates = template.Must(template.New("").Parse(`
{{define "containerd.toml"}}version = 3
root = "{{.Dir}}/containerd/root"
state = "{{.Dir}}/containerd/state"
temp = "{{.Dir}}/containerd/tmp"
imports = []
oom_score = 0
disabled_plugins = ["io.containerd.nri.v1.nri"]

[grpc]
  address = "{{.ShortDir}}/containerd.sock"
[ttrpc]
  address = "{{.ShortDir}}/containerd.sock.ttrpc"
[debug]
  address = ""
  level = "info"
[metrics]
  address = ""

[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = "overlayfs"
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = "{{.SandboxImage}}"
    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = "{{.Dir}}/containerd/certs.d"
  [plugins.'io.containerd.cri.v1.runtime']
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    cdi_spec_dirs = ["{{.Dir}}/cdi"]
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = "runc"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        runtime_path = "{{.Shim}}"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = "{{.Runc}}"
          Root = "{{.Dir}}/containerd/runc"
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ["{{.CNIBin}}"]
      conf_dir = "{{.Dir}}/cni/net.d"
      max_conf_num = 1
  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
  [plugins.'io.containerd.internal.v1.opt']
    path = "{{.Dir}}/containerd/opt"
  [plugins.'io.containerd.image-verifier.v1.bindir']
    bin_dir = "{{.Dir}}/containerd/image-verifier"
  [plugins.'io.containerd.shim.v1.manager']
    socket_dir = "{{.ShortDir}}/s"
{{end}}
{{define "cni.conflist"}}{
  "cniVersion": "1.0.0",
  "name": "{{.CNIName}}",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "{{.Bridge}}",
      "isGateway": false,
      "isDefaultGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "{{.Dir}}/cni/ipam",
        "ranges": [[{"subnet": "{{.CIDR}}", "rangeStart": "{{.First}}", "rangeEnd": "{{.Last}}", "gateway": "{{.IP}}"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
{{end}}
{{define "kubelet.yaml"}}apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: {{.CgroupRoot}}
cgroupsPerQOS: true
enforceNodeAllocatable: []
failSwapOn: false
oomScoreAdj: 0
address: {{.IP}}
port: {{.KubeletPort}}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: {{.KubeletHealthzPort}}
containerRuntimeEndpoint: unix://{{.ShortDir}}/containerd.sock
syncFrequency: {{.SyncFrequency}}
nodeStatusUpdateFrequency: {{.StatusUpdatePeriod}}
nodeStatusReportFrequency: {{.StatusUpdatePeriod}}
configMapAndSecretChangeDetectionStrategy: Watch
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true, cacheTTL: 30s}
  x509: {clientCAFile: "{{.CA}}"}
authorization:
  mode: Webhook
  webhook: {cacheAuthorizedTTL: 30s, cacheUnauthorizedTTL: 5s}
tlsCertFile: {{.PKIDir}}/kubelet-serving.crt
tlsPrivateKeyFile: {{.PKIDir}}/kubelet-serving.key
rotateCertificates: false
serverTLSBootstrap: false
podLogsDir: {{.Dir}}/pod-logs
resolvConf: ""
clusterDomain: cluster.local
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, nodefs.inodesFree: 1%, imagefs.available: 1%}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
shutdownGracePeriod: 0s
shutdownGracePeriodCriticalPods: 0s
maxPods: 110
{{end}}
{{define "kube-proxy.yaml"}}apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "{{.Dir}}/config/kube-proxy.kubeconfig"}
mode: iptables
hostnameOverride: {{.Name}}
clusterCIDR: {{.CIDR}}
detectLocalMode: ClusterCIDR
healthzBindAddress: 127.0.0.1:{{.ProxyHealthzPort}}
metricsBindAddress: 127.0.0.1:{{.ProxyMetricsPort}}
nodePortAddresses: ["{{.CIDR}}"]
oomScoreAdj: 0
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false, masqueradeAll: false, syncPeriod: 30s, minSyncPeriod: 1s}
{{end}}
`))

// writeNodeFiles writes the node's certificates, kubeconfigs and the
// configuration of containerd, the CNI network, the kubelet and kube-proxy.
func (s *Sandbox) writeNodeFiles() error {
	n := s.state.Node
	for id, file := range map[string]string{"kubelet-client": "kubelet.kubeconfig", "kube-proxy": "kube-proxy.kubeconfig"} {
		if err := writeKubeconfig(n.configPath(file), s.state.Server, s.pki, id, ""); err != nil {
			return err
		}
	}
	shim, err := prereq.FindBinary(prereq.ContainerdShim)
	if err != nil {
		return err
	}
	root, err := repo.Root()
	if err != nil {
		return err
	}
	pause, err := images.Reference(root, "pause")
	if err != nil {
		return fmt.Errorf("pod sandbox image: %w", err)
	}
	cfg := nodeConfig{NodeState: n, CA: s.pki.Path("ca.crt"), Server: s.state.Server, PKIDir: s.pki.Dir, Shim: shim, Runc: runcBinary,
		CNIBin: cniBinDir, SandboxImage: pause, CNIName: "gpuas", Bridge: nodeBridge, CIDR: nodeCIDR,
		First: podFirstIP, Last: podLastIP, SyncFrequency: "1s", StatusUpdatePeriod: "4s"}
	for tmpl, path := range map[string]string{
		"containerd.toml": n.configPath("containerd.toml"),
		"cni.conflist":    filepath.Join(n.cniConfDir(), "10-gpuas.conflist"),
		"kubelet.yaml":    n.configPath("kubelet.yaml"),
		"kube-proxy.yaml": n.configPath("kube-proxy.yaml"),
	} {
		var buf bytes.Buffer
		if err := nodeTemplates.ExecuteTemplate(&buf, tmpl, cfg); err != nil {
			return fmt.Errorf("render %s: %w", tmpl, err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}
