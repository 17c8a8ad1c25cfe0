package collector_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/medical-kg/gpu-autoscaling/exporter/gpu/simulated"
	"github.com/medical-kg/gpu-autoscaling/exporter/gpu/simuuid"
	"github.com/medical-kg/gpu-autoscaling/exporter/podresources/podresourcestest"
)

// A node of the size real MIG nodes have: 16 GPUs, MIG on each with 7 1g
// instances (112 MIG devices), allocated to pods under the mixed strategy's
// resource name. Every holder reports its own instances' memory on its parent
// GPU's series — not the whole GPU's 7 times over — and no utilization (NVML
// has none with MIG on); a pod holding two instances reports both.
func TestMIGNodeReportsEachHolderItsInstances(t *testing.T) {
	const gpus, migs = 16, simuuid.MaxMIGDevices
	var file strings.Builder
	file.WriteString("gpus:\n")
	for i := range gpus {
		// 700·(i+1) MB on GPU i: 100·(i+1) MB on each of its 7 instances.
		fmt.Fprintf(&file, "  - {index: %d, utilizationPercent: 50, memoryUsedMB: %d, temperatureCelsius: %d}\n", i, 700*(i+1), 40+i)
	}
	s := newStackOf(t, file.String(), 2*time.Second, simulated.Options{Model: "dgxa100", Devices: gpus, MIGDevices: migs})
	var allocs []podresourcestest.Allocation
	for i := range gpus {
		parent := simuuid.UUID("node-a", "dgxa100", i)
		for k := range migs {
			ids := []string{simuuid.MIGUUID(parent, k)}
			if i == 0 && k == migs-1 {
				continue // held with instance migs-2 below
			}
			if i == 0 && k == migs-2 {
				ids = append(ids, simuuid.MIGUUID(parent, migs-1))
			}
			allocs = append(allocs, podresourcestest.Allocation{Namespace: "medical-kg", Pod: fmt.Sprintf("docling-%d-%d", i, k),
				Container: "vlm", ResourceName: "nvidia.com/mig-1g.5gb", DeviceIDs: ids})
		}
	}
	s.kube.SetAllocations(allocs)
	s.coll.CollectOnce(context.Background())

	const instanceMB = 40960 / 8 // a 1g instance of an A100 40 GB
	for i := range gpus {
		parent := simuuid.UUID("node-a", "dgxa100", i)
		for k := range migs {
			if i == 0 && k == migs-1 {
				continue
			}
			held := 1.0
			if i == 0 && k == migs-2 {
				held = 2
			}
			pod := map[string]string{"pod": fmt.Sprintf("docling-%d-%d", i, k), "gpu": strconv.Itoa(i), "uuid": parent}
			if got, want := valueOf(t, s.reg, "gpu_memory_usage_mb", pod), held*100*float64(i+1); got != want {
				t.Errorf("%v: memory used %v MB, want %v (its instances', not the GPU's %d)", pod, got, want, 700*(i+1))
			}
			if got, want := valueOf(t, s.reg, "gpu_memory_total_mb", pod), held*instanceMB; got != want {
				t.Errorf("%v: memory total %v MB, want %v", pod, got, want)
			}
		}
	}
	perGPU := seriesByLabel(t, s.reg, "uuid")
	if len(perGPU) != gpus {
		t.Fatalf("series for %d GPUs, want %d", len(perGPU), gpus)
	}
	for uuid, n := range perGPU {
		// memory used, memory total and temperature for each holder.
		want := 3 * migs
		if uuid == simuuid.UUID("node-a", "dgxa100", 0) {
			want = 3 * (migs - 1)
		}
		if n != want {
			t.Errorf("GPU %s: %d series, want %d (3 per holder, no utilization)", uuid, n, want)
		}
	}
	if got := valueOf(t, s.reg, "gpu_exporter_gpus", map[string]string{"utilization": "unavailable"}); got != gpus {
		t.Errorf("gpu_exporter_gpus{utilization=unavailable} = %v, want %d: NVML reports no utilization with MIG on", got, gpus)
	}
}
