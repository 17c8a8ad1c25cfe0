// Package collector turns periodic GPU, pod-resources and host readings into
// Prometheus metrics. Readings are taken on an interval by Run and published
// as an immutable snapshot; every scrape builds ConstMetrics from the latest
// snapshot, so N concurrent scrapes cost one collection and never wait on
// NVML or the kubelet.
package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/medical-kg/gpu-autoscaling/exporter/gpu"
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
	Owners  OwnerLister
	Host    HostReader
	Logger  *slog.Logger
	Version string
	// OnCollect, when set, runs after each published snapshot (the HTTP
	// layer re-renders its cached /metrics encodings there).
	OnCollect func()
}

type errorKey struct{ source, reason string }

type device struct {
	reading gpu.Reading
	index   string
	owners  []podresources.Owner // empty: unallocated
}

type snapshot struct {
	done           bool
	at             time.Time
	duration       time.Duration
	gpuUp          bool
	gpuErr         string
	podResourcesOK bool
	devices        []device
	cpu, mem       float64
	haveCPU        bool
	haveMem        bool
	errors         []errorCount
	collections    uint64
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
}

type descs struct {
	util, memUsed, memTotal, temp *prometheus.Desc
	cpu, mem                      *prometheus.Desc
	up, podResourcesUp, gpus      *prometheus.Desc
	errors, collections           *prometheus.Desc
	duration, timestamp, build    *prometheus.Desc
}

var gpuLabels = []string{"gpu", "uuid", "model", "node", "namespace", "pod", "container"}

func newDescs() descs {
	return descs{
		util: prometheus.NewDesc("gpu_utilization_percent",
			"GPU utilization in percent, averaged over the collection interval from NVML's sample buffer (see gpu_exporter_gpus).", gpuLabels, nil),
		memUsed: prometheus.NewDesc("gpu_memory_usage_mb",
			"GPU memory in use, in MiB (NVML memory info v2, v1 where v2 is unsupported).", gpuLabels, nil),
		memTotal: prometheus.NewDesc("gpu_memory_total_mb",
			"Total GPU memory, in MiB.", gpuLabels, nil),
		temp: prometheus.NewDesc("gpu_temperature_celsius",
			"GPU core temperature in degrees Celsius.", gpuLabels, nil),
		cpu: prometheus.NewDesc("cpu_usage_percent",
			"Node CPU usage in percent of all CPUs, over the collection interval (/proc/stat).", []string{"node"}, nil),
		mem: prometheus.NewDesc("memory_usage_mb",
			"Node memory in use (MemTotal - MemAvailable), in MiB (/proc/meminfo).", []string{"node"}, nil),
		up: prometheus.NewDesc("gpu_exporter_up",
			"1 if the GPU backend answered at the last collection, 0 otherwise (for example libnvidia-ml missing).", []string{"backend"}, nil),
		podResourcesUp: prometheus.NewDesc("gpu_exporter_pod_resources_up",
			"1 if the kubelet pod-resources API answered at the last collection, 0 otherwise (series are then unattributed).", nil, nil),
		gpus: prometheus.NewDesc("gpu_exporter_gpus",
			"GPUs reported at the last collection, by how gpu_utilization_percent was obtained: sampled (average of NVML's samples over the interval), instantaneous (the device keeps no samples), unavailable (MIG-enabled GPU).",
			[]string{"utilization"}, nil),
		errors: prometheus.NewDesc("gpu_exporter_collection_errors_total",
			"Collection errors by source (gpu, pod_resources, host, simulation_file) and reason.", []string{"source", "reason"}, nil),
		collections: prometheus.NewDesc("gpu_exporter_collections_total",
			"Number of collections run.", nil, nil),
		duration: prometheus.NewDesc("gpu_exporter_last_collection_duration_seconds",
			"Duration of the last collection.", nil, nil),
		timestamp: prometheus.NewDesc("gpu_exporter_last_collection_timestamp_seconds",
			"Unix time the last collection finished.", nil, nil),
		build: prometheus.NewDesc("gpu_exporter_build_info",
			"Build information; the value is always 1.", []string{"version", "goversion"}, nil),
	}
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
	if cfg.Version == "" {
		cfg.Version = "dev"
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

// CollectOnce takes one set of readings and publishes it.
func (c *Collector) CollectOnce(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	began := time.Now()
	s := &snapshot{done: true}

	if c.cfg.Reload != nil {
		if err := c.cfg.Reload(); err != nil {
			c.count(SourceSimulationFile, "reload")
			c.log.Warn("simulation file not reloaded; keeping the previous values", "err", err)
		}
	}

	res, err := c.cfg.GPU.Collect()
	if err != nil {
		reason := "nvml_error"
		var ie *gpu.InitError
		var ret nvml.Return
		if errors.As(err, &ie) {
			reason = ie.Reason()
		} else if errors.As(err, &ret) {
			reason = gpu.Reason(ret) // e.g. the device count failing with gpu_lost
		}
		c.count(SourceGPU, reason)
		s.gpuErr = err.Error()
		if s.gpuErr != c.lastGPUErr {
			c.log.Error("GPU metrics unavailable; serving node metrics only", "backend", c.cfg.Backend, "err", err)
		}
	} else {
		s.gpuUp = true
		if c.lastGPUErr != "" {
			c.log.Info("GPU backend available again", "backend", c.cfg.Backend)
		}
	}
	c.lastGPUErr = s.gpuErr
	for _, de := range res.Errors {
		c.count(SourceGPU, de.Reason)
		c.log.Warn("GPU device error", "gpu", de.Index, "uuid", de.UUID, "reason", de.Reason, "partial", de.Partial, "err", de.Err)
	}

	var owners map[string][]podresources.Owner
	if c.cfg.Owners != nil && len(res.Devices) > 0 {
		owners, err = c.cfg.Owners.Owners(ctx)
		if err != nil {
			reason := podresources.ErrorReason(err)
			c.count(SourcePodResources, reason)
			if err.Error() != c.lastPRErr {
				c.log.Warn("pod-resources API unavailable; GPU series are unattributed", "reason", reason, "err", err)
			}
			c.lastPRErr = err.Error()
		} else {
			s.podResourcesOK = true
			c.lastPRErr = ""
		}
	}
	s.devices = attribute(res.Devices, owners)

	if v, err := c.cfg.Host.CPUUsagePercent(); err != nil {
		c.count(SourceHost, "cpu")
		c.log.Warn("node CPU usage unavailable", "err", err)
	} else {
		s.cpu, s.haveCPU = v, true
	}
	if v, err := c.cfg.Host.MemoryUsageMB(); err != nil {
		c.count(SourceHost, "memory")
		c.log.Warn("node memory usage unavailable", "err", err)
	} else {
		s.mem, s.haveMem = v, true
	}

	c.collections++
	s.collections = c.collections
	s.errors = make([]errorCount, 0, len(c.errCounts))
	for k, v := range c.errCounts {
		s.errors = append(s.errors, errorCount{key: k, count: float64(v)})
	}
	sort.Slice(s.errors, func(i, j int) bool {
		a, b := s.errors[i].key, s.errors[j].key
		return a.source < b.source || a.source == b.source && a.reason < b.reason
	})
	s.at = time.Now()
	s.duration = s.at.Sub(began)
	c.snap.Store(s)
	if c.cfg.OnCollect != nil {
		c.cfg.OnCollect()
	}
}

func (c *Collector) count(source, reason string) {
	c.errCounts[errorKey{source, reason}]++
}

// attribute pairs each reading with the containers its GPU, or one of its MIG
// devices, is allocated to.
func attribute(readings []gpu.Reading, owners map[string][]podresources.Owner) []device {
	devices := make([]device, len(readings))
	for i, r := range readings {
		d := device{reading: r, index: strconv.Itoa(r.Index)}
		d.owners = append(d.owners, owners[r.UUID]...)
		for _, mig := range r.MIGDeviceUUIDs {
			d.owners = append(d.owners, owners[mig]...)
		}
		d.owners = dedupOwners(d.owners)
		devices[i] = d
	}
	return devices
}

func dedupOwners(owners []podresources.Owner) []podresources.Owner {
	if len(owners) < 2 {
		return owners
	}
	sort.Slice(owners, func(i, j int) bool {
		a, b := owners[i], owners[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Pod != b.Pod {
			return a.Pod < b.Pod
		}
		return a.Container < b.Container
	})
	out := owners[:1]
	for _, o := range owners[1:] {
		if o != out[len(out)-1] {
			out = append(out, o)
		}
	}
	return out
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	d := c.descs
	for _, desc := range []*prometheus.Desc{d.util, d.memUsed, d.memTotal, d.temp, d.cpu, d.mem,
		d.up, d.podResourcesUp, d.gpus, d.errors, d.collections, d.duration, d.timestamp, d.build} {
		ch <- desc
	}
}

// Collect implements prometheus.Collector: it builds ConstMetrics from the
// latest snapshot and never blocks on the GPU or the kubelet.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.snap.Load()
	d := c.descs
	node := c.cfg.NodeName
	gauge := prometheus.GaugeValue

	ch <- prometheus.MustNewConstMetric(d.build, gauge, 1, c.cfg.Version, runtime.Version())
	ch <- prometheus.MustNewConstMetric(d.up, gauge, boolFloat(s.gpuUp), c.cfg.Backend)
	if !s.done {
		return
	}
	ch <- prometheus.MustNewConstMetric(d.collections, prometheus.CounterValue, float64(s.collections))
	ch <- prometheus.MustNewConstMetric(d.duration, gauge, s.duration.Seconds())
	ch <- prometheus.MustNewConstMetric(d.timestamp, gauge, float64(s.at.UnixNano())/1e9)
	for _, e := range s.errors {
		ch <- prometheus.MustNewConstMetric(d.errors, prometheus.CounterValue, e.count, e.key.source, e.key.reason)
	}
	if c.cfg.Owners != nil {
		ch <- prometheus.MustNewConstMetric(d.podResourcesUp, gauge, boolFloat(s.podResourcesOK))
	}
	if s.gpuUp {
		var sampled, instantaneous, unavailable float64
		for i := range s.devices {
			switch r := &s.devices[i].reading; {
			case !r.HasUtilization:
				unavailable++
			case r.UtilizationSamples > 0:
				sampled++
			default:
				instantaneous++
			}
		}
		ch <- prometheus.MustNewConstMetric(d.gpus, gauge, sampled, "sampled")
		ch <- prometheus.MustNewConstMetric(d.gpus, gauge, instantaneous, "instantaneous")
		ch <- prometheus.MustNewConstMetric(d.gpus, gauge, unavailable, "unavailable")
	}
	if s.haveCPU {
		ch <- prometheus.MustNewConstMetric(d.cpu, gauge, s.cpu, node)
	}
	if s.haveMem {
		ch <- prometheus.MustNewConstMetric(d.mem, gauge, s.mem, node)
	}
	unallocated := []podresources.Owner{{}}
	for i := range s.devices {
		dev := &s.devices[i]
		r := &dev.reading
		owners := dev.owners
		if len(owners) == 0 {
			owners = unallocated
		}
		for _, o := range owners {
			if r.HasUtilization {
				ch <- prometheus.MustNewConstMetric(d.util, gauge, r.UtilizationPercent, dev.index, r.UUID, r.Model, node, o.Namespace, o.Pod, o.Container)
			}
			ch <- prometheus.MustNewConstMetric(d.memUsed, gauge, float64(r.MemoryUsedBytes)/(1<<20), dev.index, r.UUID, r.Model, node, o.Namespace, o.Pod, o.Container)
			ch <- prometheus.MustNewConstMetric(d.memTotal, gauge, float64(r.MemoryTotalBytes)/(1<<20), dev.index, r.UUID, r.Model, node, o.Namespace, o.Pod, o.Container)
			ch <- prometheus.MustNewConstMetric(d.temp, gauge, r.TemperatureCelsius, dev.index, r.UUID, r.Model, node, o.Namespace, o.Pod, o.Container)
		}
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
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
