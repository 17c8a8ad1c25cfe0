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
	for p, l := range (Demand{GPUUtilization: 100, GPUBurstPeriodSeconds: 2}).Split([]string{"a", "b"}, 0) {
		if l.GPUBurstPeriodSeconds != 2 || l.GPUUtilization != 50 {
			t.Errorf("bursty demand, pod %s: %+v, want 50 %% in bursts every 2 s", p, l)
		}
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

func TestDemandSplitByRequests(t *testing.T) {
	d := Demand{GPUUtilization: 150, GPUMemoryMB: 30000, CPUMillicores: 300}
	pods := []string{"a", "b", "c"}
	// c is not Ready yet: no requests, idle GPUs; a served twice b's share.
	got := d.SplitByRequests(pods, map[string]float64{"a": 20, "b": 10}, 0)
	want := map[string]float64{"a": 100, "b": 50, "c": 0}
	for _, p := range pods {
		if got[p].GPUUtilization != want[p] || got[p].GPUMemoryMB != 10000 || got[p].CPUMillicores != 100 {
			t.Errorf("pod %s: got %+v, want util %v (its share of the requests), memory 10000 and cpu 100 (even)", p, got[p], want[p])
		}
	}
	// More than one busy GPU's worth on a pod is capped at 100 %.
	if got := d.SplitByRequests(pods, map[string]float64{"a": 1}, 0); got["a"].GPUUtilization != 100 || got["b"].GPUUtilization != 0 {
		t.Errorf("all requests on a: got %+v", got)
	}
	// No requests served at all: the even split.
	even := d.Split(pods, 0)
	for _, served := range []map[string]float64{nil, {"a": 0, "b": -1}} {
		got := d.SplitByRequests(pods, served, 0)
		for _, p := range pods {
			if got[p] != even[p] {
				t.Errorf("served %v, pod %s: got %+v, want the even split %+v", served, p, got[p], even[p])
			}
		}
	}
}
