// Package collector turns periodic GPU, pod-resources and host readings into
// Prometheus metrics. Readings are taken on an interval by Run and published
// as an immutable snapshot; every scrape builds ConstMetrics from the latest
// snapshot, so N concurrent scrapes cost one collection and never wait on
// NVML or the kubelet. Consumers follow collections through Subscribe.
package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/medical-kg/gpu-autoscaling/exporter/gpu"
	"github.com/medical-kg/gpu-autoscaling/exporter/gpushare"
	"github.com/medical-kg/gpu-autoscaling/exporter/podresources"
)

// Error sources, the `source` label of gpu_exporter_collection_errors_total.
const (
	SourceGPU            = "gpu"
	SourcePodResources   = "pod_resources"
	SourceHost           = "host"
	SourceSimulationFile = "simulation_file"
)

// GPUReader is what the collector needs from gpu.Reader.
type GPUReader interface {
	Collect() (gpu.Result, error)
	Shutdown() error
}

// OwnerLister is what the collector needs from podresources.Client.
type OwnerLister interface {
	Owners(ctx context.Context) (map[string][]podresources.Owner, error)
}

// HostReader is what the collector needs from hostmetrics.Reader.
type HostReader interface {
	CPUUsagePercent() (float64, error)
	MemoryUsageMB() (float64, error)
}

// Config wires a Collector.
type Config struct {
	NodeName string
	// Backend names the GPU backend ("nvml" or "simulated") for gpu_exporter_up.
	Backend  string
	Interval time.Duration
	GPU      GPUReader
	// Reload, when set, runs before each GPU collection (the simulated
	// backend re-reads its simulation file there).
	Reload func() error
	// Owners, when set, attributes GPUs to containers; nil disables it.
	Owners OwnerLister
	// PodOf, when set, places a GPU process in its pod ("namespace/name"):
	// a GPU several pods hold (time-slicing, MPS) then reports each pod its
	// own processes' utilization and memory, when the GPU reader reads
	// per-process use (gpu.Reader.WithProcesses). Nil keeps whole-GPU values.
	PodOf  gpushare.PodOf
	Host   HostReader
	Logger *slog.Logger
}

type errorKey struct{ source, reason string }

type device struct {
	reading gpu.Reading
	index   string
	owners  []podresources.Owner // empty: unallocated
	// shares, when set, is each owner's own use of a shared GPU (same order
	// as owners); nil: every owner reports the whole GPU.
	shares []gpushare.Share
	// migMemory, when set, is each owner's memory on a MIG-enabled GPU (its
	// MIG devices'; same order as owners).
	migMemory []memory
}

// memory is GPU memory in bytes.
type memory struct{ used, total uint64 }

type snapshot struct {
	done           bool
	at             time.Time
	duration       time.Duration
	gpuUp          bool
	gpuErr         string
	podResourcesOK bool
	devices        []device
	// Shared GPUs by how they were attributed, and the GPU processes no
	// known pod accounts for.
	sharedPerProcess, sharedWhole float64
	unattributed                  float64
	cpu, mem                      float64
	haveCPU                       bool
	haveMem                       bool
	errors                        []errorCount
	collections                   uint64
}

type errorCount struct {
	key   errorKey
	count float64
}

// Collector is a prometheus.Collector fed by Run.
type Collector struct {
	cfg   Config
	log   *slog.Logger
	snap  atomic.Pointer[snapshot]
	start time.Time

	// Owned by the collection loop (Collect once), guarded for tests that
	// call CollectOnce from several goroutines.
	mu          sync.Mutex
	errCounts   map[errorKey]uint64
	collections uint64
	lastGPUErr  string
	lastPRErr   string

	descs descs
	subs  subscribers
}

// New returns a Collector; call Run (or CollectOnce) to feed it.
func New(cfg Config) (*Collector, error) {
	if cfg.GPU == nil || cfg.Host == nil {
		return nil, errors.New("collector needs a GPU reader and a host reader")
	}
	if cfg.Interval <= 0 {
		return nil, fmt.Errorf("collection interval must be positive, got %s", cfg.Interval)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Collector{cfg: cfg, log: cfg.Logger, start: time.Now(), errCounts: map[errorKey]uint64{}, descs: newDescs()}
	c.snap.Store(&snapshot{})
	return c, nil
}

// Run collects immediately and then every interval until ctx is done.
func (c *Collector) Run(ctx context.Context) {
	c.CollectOnce(ctx)
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.CollectOnce(ctx)
		}
	}
}

// Close shuts the GPU backend down.
func (c *Collector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg.GPU.Shutdown()
}

// Generation identifies the published snapshot: it changes with every
// collection, and everything Collect emits is a function of it, so an
// encoding of one gather can be reused until it changes.
func (c *Collector) Generation() uint64 {
	return c.snap.Load().collections
}

// Ready reports whether the exporter has collected and the GPU backend is up,
// with a reason when it is not.
func (c *Collector) Ready() (bool, string) {
	s := c.snap.Load()
	switch {
	case !s.done:
		return false, "no collection has completed yet"
	case !s.gpuUp:
		return false, "GPU backend " + c.cfg.Backend + " unavailable: " + s.gpuErr
	default:
		return true, "ok"
	}
}

// Healthy reports whether the collection loop is making progress: a
// collection finished within three intervals (or the exporter started less
// than three intervals ago).
func (c *Collector) Healthy(now time.Time) (bool, string) {
	s := c.snap.Load()
	last := c.start
	if s.done {
		last = s.at
	}
	if stale := now.Sub(last); stale > 3*c.cfg.Interval {
		return false, fmt.Sprintf("no collection for %s (interval %s)", stale.Round(time.Second), c.cfg.Interval)
	}
	return true, "ok"
}
