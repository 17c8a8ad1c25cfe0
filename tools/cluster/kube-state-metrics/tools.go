//go:build tools

// Package kubestatemetrics pins kube-state-metrics for the sandbox (its
// image runs on the real node, as kube-prometheus-stack runs it).
package kubestatemetrics

import _ "k8s.io/kube-state-metrics/v2"
