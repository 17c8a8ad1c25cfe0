package loadmodel

import (
	"testing"
)

func TestDemandSplit(t *testing.T) {
	tests := []struct {
		name     string
		demand   Demand
		pods     []string
		memCap   float64
		wantUtil float64
		wantMem  float64
		wantCPU  float64
	}{
		{"even split", Demand{GPUUtilization: 240, GPUMemoryMB: 60000, CPUMillicores: 3000}, []string{"a", "b", "c"}, 0, 80, 20000, 1000},
		{"utilization capped at one busy GPU", Demand{GPUUtilization: 500}, []string{"a", "b"}, 0, 100, 0, 0},
		{"memory capped at the pod's GPUs", Demand{GPUMemoryMB: 100000}, []string{"a"}, 40960, 0, 40960, 0},
		{"negative demand is no load", Demand{GPUUtilization: -5, GPUMemoryMB: -1}, []string{"a"}, 0, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.demand.Split(tc.pods, tc.memCap)
			if len(got) != len(tc.pods) {
				t.Fatalf("got %d pods, want %d", len(got), len(tc.pods))
			}
			for _, p := range tc.pods {
				l := got[p]
				if l.GPUUtilization != tc.wantUtil || l.GPUMemoryMB != tc.wantMem || l.CPUMillicores != tc.wantCPU {
					t.Errorf("pod %s: got %+v, want util %v mem %v cpu %v", p, l, tc.wantUtil, tc.wantMem, tc.wantCPU)
				}
			}
		})
	}
	if got := (Demand{GPUUtilization: 100}).Split(nil, 0); len(got) != 0 {
		t.Errorf("no pods: got %v, want no loads", got)
	}
}

func TestDesiredReplicas(t *testing.T) {
	tests := []struct {
		total, target float64
		min, max      int
		want          int
	}{
		{400, 80, 2, 10, 5},
		{160, 80, 2, 10, 2},
		{161, 80, 2, 10, 3},
		{0, 80, 2, 10, 2},
		{5000, 80, 2, 10, 10},
		{100, 0, 2, 10, 2},
	}
	for _, tc := range tests {
		if got := DesiredReplicas(tc.total, tc.target, tc.min, tc.max); got != tc.want {
			t.Errorf("DesiredReplicas(%v, %v, %d, %d) = %d, want %d", tc.total, tc.target, tc.min, tc.max, got, tc.want)
		}
	}
}
