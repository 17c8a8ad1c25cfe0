package gpu

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// Process is one process's use of a GPU over a collection interval.
type Process struct {
	PID uint32
	// SMUtilPercent is the mean of the process's SM utilization samples
	// since the previous collection (0 when it had none).
	SMUtilPercent   float64
	Samples         int
	UsedMemoryBytes uint64
}

// ProcessReader reads per-process GPU use: nvmlDeviceGetProcessUtilization
// samples since the previous collection and the running compute and graphics
// processes with their used memory. Not safe for concurrent use.
type ProcessReader struct {
	lastSeen map[string]uint64 // per device UUID, µs
}

// NewProcessReader returns a ProcessReader with no history: the first read of
// a device averages every sample NVML still buffers after since.
func NewProcessReader() *ProcessReader {
	return &ProcessReader{lastSeen: map[string]uint64{}}
}

// Read returns the processes using dev. since is the timestamp (µs) to start
// from on a device's first read. A failing call (not supported, no
// permission, MIG) is returned as an error: the caller falls back to
// whole-GPU values.
func (p *ProcessReader) Read(dev nvml.Device, uuid string, since uint64) ([]Process, error) {
	byPID := map[uint32]*Process{}
	get := func(pid uint32) *Process {
		if pr, ok := byPID[pid]; ok {
			return pr
		}
		pr := &Process{PID: pid}
		byPID[pid] = pr
		return pr
	}
	for _, list := range []struct {
		what string
		fn   func() ([]nvml.ProcessInfo, nvml.Return)
	}{{"compute", dev.GetComputeRunningProcesses}, {"graphics", dev.GetGraphicsRunningProcesses}} {
		infos, ret := list.fn()
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("list %s processes of %s: %w", list.what, uuid, ret)
		}
		for _, info := range infos {
			pr := get(info.Pid)
			// A process in both lists reports the same allocation twice.
			pr.UsedMemoryBytes = max(pr.UsedMemoryBytes, info.UsedGpuMemory)
		}
	}
	last, ok := p.lastSeen[uuid]
	if !ok {
		last = since
	}
	samples, ret := dev.GetProcessUtilization(last)
	switch ret {
	case nvml.SUCCESS:
	case nvml.ERROR_NOT_FOUND: // no new sample: no process ran kernels
	default:
		return nil, fmt.Errorf("get process utilization of %s: %w", uuid, ret)
	}
	sums := map[uint32]float64{}
	newest := last
	for _, s := range samples {
		if s.TimeStamp <= last {
			continue
		}
		pr := get(s.Pid)
		pr.Samples++
		sums[s.Pid] += float64(s.SmUtil)
		newest = max(newest, s.TimeStamp)
	}
	p.lastSeen[uuid] = newest
	out := make([]Process, 0, len(byPID))
	for pid, pr := range byPID {
		if pr.Samples > 0 {
			pr.SMUtilPercent = sums[pid] / float64(pr.Samples)
		}
		out = append(out, *pr)
	}
	return out, nil
}
