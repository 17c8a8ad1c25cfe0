package collector

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/medical-kg/gpu-autoscaling/exporter/gpu"
	"github.com/medical-kg/gpu-autoscaling/exporter/gpushare"
	"github.com/medical-kg/gpu-autoscaling/exporter/podresources"
)

// CollectOnce takes one set of readings, publishes it and then notifies the
// subscribers (see Subscribe).
func (c *Collector) CollectOnce(ctx context.Context) {
	c.collect(ctx)
	c.subs.notify()
}

// collect takes the readings in a fixed order (simulation file, GPUs, pod
// resources, host) and publishes the snapshot.
func (c *Collector) collect(ctx context.Context) {
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
	res := c.readGPUs(s)
	s.devices = attribute(res.Devices, c.readOwners(ctx, s, len(res.Devices)))
	c.splitShared(s)
	c.readHost(s)
	c.publish(s, began)
}

// readGPUs reads the GPU backend into s (up, error) and counts and logs the
// per-device errors; c.mu must be held.
func (c *Collector) readGPUs(s *snapshot) gpu.Result {
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
	return res
}

// readOwners asks the kubelet which containers the GPUs are allocated to
// (not at all when attribution is disabled or there are no devices); c.mu
// must be held. A failure leaves the devices unattributed.
func (c *Collector) readOwners(ctx context.Context, s *snapshot, devices int) map[string][]podresources.Owner {
	if c.cfg.Owners == nil || devices == 0 {
		return nil
	}
	owners, err := c.cfg.Owners.Owners(ctx)
	if err != nil {
		reason := podresources.ErrorReason(err)
		c.count(SourcePodResources, reason)
		if err.Error() != c.lastPRErr {
			c.log.Warn("pod-resources API unavailable; GPU series are unattributed", "reason", reason, "err", err)
		}
		c.lastPRErr = err.Error()
		return owners
	}
	s.podResourcesOK = true
	c.lastPRErr = ""
	return owners
}

// readHost reads node CPU and memory usage into s; c.mu must be held.
func (c *Collector) readHost(s *snapshot) {
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
}

// publish completes s with the counters and timings and makes it the
// snapshot scrapes see; c.mu must be held.
func (c *Collector) publish(s *snapshot, began time.Time) {
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
}

func (c *Collector) count(source, reason string) {
	c.errCounts[errorKey{source, reason}]++
}

// attribute pairs each reading with the containers its GPU, or one of its MIG
// devices, is allocated to. The holders of MIG devices each report their own
// instances' memory (used and total), not the whole GPU's.
func attribute(readings []gpu.Reading, owners map[string][]podresources.Owner) []device {
	devices := make([]device, len(readings))
	for i, r := range readings {
		d := device{reading: r, index: strconv.Itoa(r.Index)}
		d.owners = append(d.owners, owners[r.UUID]...)
		for _, mig := range r.MIGDevices {
			d.owners = append(d.owners, owners[mig.UUID]...)
		}
		d.owners = dedupOwners(d.owners)
		d.migMemory = migMemory(d.owners, r, owners)
		devices[i] = d
	}
	return devices
}

// migMemory is each owner's memory on a MIG-enabled GPU — the sum over the
// MIG devices it holds, in the order of owners — or nil when no owner holds
// a MIG device (the GPU is allocated whole) or NVML could not read the
// memory of one an owner holds (the owners then report the whole GPU's, as
// without MIG; the reader counted the error).
func migMemory(devOwners []podresources.Owner, r gpu.Reading, owners map[string][]podresources.Owner) []memory {
	if len(r.MIGDevices) == 0 {
		return nil
	}
	out := make([]memory, len(devOwners))
	held := false
	for _, mig := range r.MIGDevices {
		for _, o := range owners[mig.UUID] {
			if !mig.HasMemory {
				return nil
			}
			j := slices.Index(devOwners, o)
			out[j].used += mig.MemoryUsedBytes
			out[j].total += mig.MemoryTotalBytes
			held = true
		}
	}
	for _, o := range owners[r.UUID] {
		if j := slices.Index(devOwners, o); j >= 0 && out[j].total == 0 {
			out[j] = memory{used: r.MemoryUsedBytes, total: r.MemoryTotalBytes} // the GPU itself, whole
		}
	}
	if !held {
		return nil
	}
	return out
}

// splitShared gives each owner of a GPU several pods hold its own
// processes' share, where per-process data was read; the others keep
// whole-GPU values and are counted as such.
func (c *Collector) splitShared(s *snapshot) {
	if c.cfg.PodOf == nil {
		return
	}
	for i := range s.devices {
		d := &s.devices[i]
		if !shared(d.owners) || d.migMemory != nil { // MIG partitions the GPU: each holder has its own instance
			continue
		}
		if !d.reading.HasProcesses {
			s.sharedWhole++
			continue
		}
		byPod, rest := gpushare.Split(d.reading.Processes, c.cfg.PodOf)
		d.shares = make([]gpushare.Share, len(d.owners))
		for j, o := range d.owners {
			d.shares[j] = byPod[o.Namespace+"/"+o.Pod]
		}
		s.sharedPerProcess++
		s.unattributed += float64(rest.Processes)
	}
}

// shared reports whether more than one pod holds the GPU.
func shared(owners []podresources.Owner) bool {
	for _, o := range owners[min(1, len(owners)):] {
		if o.Namespace != owners[0].Namespace || o.Pod != owners[0].Pod {
			return true
		}
	}
	return false
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
