//go:build tools

// Package metricsserver pins metrics-server for the sandbox.
package metricsserver

import _ "sigs.k8s.io/metrics-server/cmd/metrics-server"
