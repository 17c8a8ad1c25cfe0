//go:build tools

// Package kubernetes pins the control-plane binaries the sandbox runs
// (kube-apiserver, kube-controller-manager, kube-scheduler).
package kubernetes

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
