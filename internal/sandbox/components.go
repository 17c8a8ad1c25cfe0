package sandbox

import (
	"fmt"
	"path/filepath"
)

func (s *Sandbox) writeKubeconfigs() error {
	for _, id := range []string{"admin", "controller-manager", "scheduler", "kwok", "metrics-server"} {
		path := filepath.Join(s.opts.Dir, "config", id+".kubeconfig")
		if id == "admin" {
			path = s.Kubeconfig()
		}
		if err := writeKubeconfig(path, s.state.Server, s.pki, id, ""); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sandbox) kubeconfigFor(id string) string {
	return filepath.Join(s.opts.Dir, "config", id+".kubeconfig")
}

func (s *Sandbox) etcdArgs() []string {
	client := fmt.Sprintf("http://127.0.0.1:%d", s.state.Ports.Etcd)
	peer := fmt.Sprintf("http://127.0.0.1:%d", s.state.Ports.EtcdPeer)
	return []string{
		"--name=sandbox",
		"--data-dir=" + filepath.Join(s.opts.Dir, "etcd"),
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=sandbox=" + peer,
		"--unsafe-no-fsync=true", // throwaway data: skip fsync, it dominates on slow disks
		"--log-level=warn",
	}
}

func (s *Sandbox) apiserverArgs() []string {
	p := s.pki.Path
	// With a real node the API server serves on the node IP (the kubelet,
	// kube-proxy and pods cannot reach the host's 127.0.0.1) and publishes it
	// as the kubernetes Service's endpoint (pods reach it through 10.96.0.1
	// by kube-proxy); loopback is no valid endpoint, hence no reconciler then.
	reconciler := "none"
	if s.state.Node != nil {
		reconciler = "lease"
	}
	return []string{
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", s.state.Ports.Etcd),
		"--bind-address=" + s.apiHost(),
		"--advertise-address=" + s.apiHost(),
		fmt.Sprintf("--secure-port=%d", s.state.Ports.APIServer),
		"--tls-cert-file=" + p("apiserver.crt"),
		"--tls-private-key-file=" + p("apiserver.key"),
		"--client-ca-file=" + p("ca.crt"),
		"--endpoint-reconciler-type=" + reconciler,
		"--authorization-mode=Node,RBAC",
		"--service-cluster-ip-range=10.96.0.0/12",
		"--allow-privileged=true",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p("sa.pub"),
		"--service-account-signing-key-file=" + p("sa.key"),
		// API aggregation: the aggregator proxies to extension API servers with
		// the front-proxy client certificate; they trust the front-proxy CA.
		"--requestheader-client-ca-file=" + p("front-proxy-ca.crt"),
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + p("front-proxy-client.crt"),
		"--proxy-client-key-file=" + p("front-proxy-client.key"),
		// The aggregator dials Services' ClusterIPs (kube-proxy routes them on
		// the real node) and resolves ExternalName Services (metrics-server, a
		// host process) only with routing off.
		"--enable-aggregator-routing=false",
		// Kubelets: called with a client certificate they authorize by
		// webhook, by their InternalIP (no DNS lookup of node names), their
		// serving certificates verified against the sandbox CA.
		"--kubelet-client-certificate=" + p("apiserver-kubelet-client.crt"),
		"--kubelet-client-key=" + p("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority=" + p("ca.crt"),
		"--kubelet-preferred-address-types=InternalIP",
		"--profiling=false",
		"--v=1",
	}
}

func (s *Sandbox) controllerManagerArgs() []string {
	p := s.pki.Path
	kc := s.kubeconfigFor("controller-manager")
	return []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", s.state.Ports.ControllerManager),
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + p("sa.key"),
		"--root-ca-file=" + p("ca.crt"),
		"--cluster-signing-cert-file=" + p("ca.crt"),
		"--cluster-signing-key-file=" + p("ca.key"),
		"--horizontal-pod-autoscaler-sync-period=" + s.opts.HPASyncPeriod.String(),
		"--horizontal-pod-autoscaler-downscale-stabilization=" + s.opts.HPADownscaleStabilization.String(),
		"--profiling=false",
		"--v=1",
	}
}

func (s *Sandbox) schedulerArgs() []string {
	kc := s.kubeconfigFor("scheduler")
	return []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", s.state.Ports.Scheduler),
		"--leader-elect=false",
		"--profiling=false",
	}
}
