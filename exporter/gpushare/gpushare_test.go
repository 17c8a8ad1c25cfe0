package gpushare

import (
	"testing"

	"github.com/medical-kg/gpu-autoscaling/exporter/gpu"
)

// Two pods time-sliced on one GPU at 20 % and 60 % get 20 and 60, not 80
// each; a host process is unattributed.
func TestSplitTimeSlicedGPU(t *testing.T) {
	procs := []gpu.Process{
		{PID: 101, SMUtilPercent: 15, UsedMemoryBytes: 1 << 30},
		{PID: 111, SMUtilPercent: 5, UsedMemoryBytes: 1 << 30}, // second process of pod a
		{PID: 102, SMUtilPercent: 60, UsedMemoryBytes: 6 << 30},
		{PID: 999, SMUtilPercent: 3, UsedMemoryBytes: 512 << 20},
	}
	pods := map[uint32]string{101: "a", 111: "a", 102: "b"}
	byPod, un := Split(procs, func(pid uint32) (string, bool) { p, ok := pods[pid]; return p, ok })
	if got := byPod["a"]; got != (Share{UtilizationPercent: 20, MemoryUsedBytes: 2 << 30, Processes: 2}) {
		t.Errorf("pod a: %+v", got)
	}
	if got := byPod["b"]; got != (Share{UtilizationPercent: 60, MemoryUsedBytes: 6 << 30, Processes: 1}) {
		t.Errorf("pod b: %+v", got)
	}
	if un != (Share{UtilizationPercent: 3, MemoryUsedBytes: 512 << 20, Processes: 1}) {
		t.Errorf("unattributed: %+v", un)
	}
	if len(byPod) != 2 {
		t.Errorf("pods: %v", byPod)
	}
}
