// Package gpushare splits one GPU's per-process readings into per-pod
// shares: the SM utilization and memory of the processes of each pod, and
// what no known pod accounts for (unattributed).
package gpushare

import (
	"github.com/medical-kg/gpu-autoscaling/exporter/gpu"
)

// Share is one pod's (or the unattributed remainder's) use of a GPU.
type Share struct {
	UtilizationPercent float64 // sum of its processes' mean SM utilization
	MemoryUsedBytes    uint64
	Processes          int
}

// PodOf names the pod a process runs in ("" with ok false: no known pod).
type PodOf func(pid uint32) (pod string, ok bool)

// Split sums the processes of each pod; processes PodOf does not place go to
// unattributed.
func Split(procs []gpu.Process, podOf PodOf) (byPod map[string]Share, unattributed Share) {
	byPod = map[string]Share{}
	for _, p := range procs {
		pod, ok := podOf(p.PID)
		if !ok {
			unattributed = unattributed.add(p)
			continue
		}
		byPod[pod] = byPod[pod].add(p)
	}
	return byPod, unattributed
}

func (s Share) add(p gpu.Process) Share {
	s.UtilizationPercent += p.SMUtilPercent
	s.MemoryUsedBytes += p.UsedMemoryBytes
	s.Processes++
	return s
}
