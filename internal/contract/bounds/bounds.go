// Package bounds holds the limits that the exporter's flags and the chart's
// values share: each is defined here once. The exporter validates its flags
// against them, and tests/chart checks that the chart refuses and accepts
// exactly at the same edges (the chart cannot import Go, so the test is the
// link). The package imports only the standard library, so the exporter
// binary stays small.
package bounds

import "time"

const (
	// MinCollectionInterval is the shortest --collection-interval
	// (exporter.collectionInterval): NVML utilization needs a sample window.
	MinCollectionInterval = time.Second
	// MaxCollectionInterval is the longest --collection-interval: /healthz
	// reports stale after 3 intervals, and an HPA fed less often than hourly
	// does not autoscale.
	MaxCollectionInterval = time.Hour
	// DefaultPodResourcesTimeout is the default --pod-resources-timeout
	// (exporter.podResources.timeout). With attribution on, the timeout must be
	// positive and shorter than the collection interval.
	DefaultPodResourcesTimeout = 2 * time.Second
)
