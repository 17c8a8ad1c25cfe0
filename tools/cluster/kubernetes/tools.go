//go:build tools

// Package kubernetes pins the control-plane binaries the sandbox runs
// (kube-apiserver, kube-controller-manager, kube-scheduler) and the real
// node's kubelet and kube-proxy.
package kubernetes

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
