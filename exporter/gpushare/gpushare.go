// Package gpushare splits one GPU's per-process readings into per-pod
// shares: the SM utilization and memory of the processes of each pod, and
// what no known pod accounts for (unattributed).
package gpushare

import (
	"github.com/medical-kg/gpu-autoscaling/exporter/gpu"
	"github.com/medical-kg/gpu-autoscaling/exporter/proccgroup"
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

// PodByUID names the pod ("namespace/name") with a metadata.uid.
type PodByUID func(uid string) (pod string, ok bool)

// CgroupPodOf places a process through its cgroup (procRoot/<pid>/cgroup,
// package proccgroup: the pod UID in the kubelet's cgroup path) and names
// the pod with byUID. A process outside any pod, or in a pod byUID does not
// know, is not placed (it counts as unattributed).
func CgroupPodOf(procRoot string, byUID PodByUID) PodOf {
	return func(pid uint32) (string, bool) {
		ref, err := proccgroup.Lookup(procRoot, pid)
		if err != nil {
			return "", false
		}
		return byUID(ref.PodUID)
	}
}
