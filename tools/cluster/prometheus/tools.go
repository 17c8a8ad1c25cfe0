//go:build tools

// Package prometheus pins the sandbox's Prometheus and promtool. They are
// built with -tags remove_all_sd,enable_kubernetes_sd: Kubernetes service
// discovery (which Debian's package leaves out) and nothing of the cloud
// discoveries, a much smaller build.
package prometheus

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
