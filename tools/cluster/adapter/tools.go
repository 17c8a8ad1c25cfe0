//go:build tools

// Package adapter pins prometheus-adapter for the sandbox.
package adapter

import _ "sigs.k8s.io/prometheus-adapter/cmd/adapter"
