package gpuplane

import (
	"strings"
	"testing"
	"time"

	"github.com/medical-kg/gpu-autoscaling/exporter/gpu/simulated"
	"github.com/medical-kg/gpu-autoscaling/internal/loadmodel"
	"github.com/medical-kg/gpu-autoscaling/internal/standin"
)

// The simulation file the plane writes is read by the exporter's own
// parser, node by node: loaded GPUs carry their pod's load, the others idle.
func TestSimulationFileMatchesExporterParser(t *testing.T) {
	gpus := map[string][]GPU{
		"emb-1": {{Node: "gpu-node-0", Index: 2, MemoryTotalMB: 40960}},
		"vlm-1": {{Node: "gpu-node-0", Index: 5, MemoryTotalMB: 40960}, {Node: "gpu-node-0", Index: 6, MemoryTotalMB: 40960}},
		"idle":  {{Node: "gpu-node-1", Index: 0, MemoryTotalMB: 40960}},
	}
	loads := map[string]loadmodel.PodLoad{
		"emb-1": {GPUUtilization: 85, GPUMemoryMB: 20000, GPUBurstPeriodSeconds: 2.5},
		"vlm-1": {GPUUtilization: 40, GPUMemoryMB: 100000}, // 50000 per GPU, capped at the A100's 40960
	}
	data, err := SimulationFile([]string{"gpu-node-0", "gpu-node-1"}, gpus, loads)
	if err != nil {
		t.Fatal(err)
	}
	lim := simulated.Limits{Devices: 24, MemoryTotalMB: 40960}
	states, err := simulated.ParseNode(data, lim, "gpu-node-0")
	if err != nil {
		t.Fatalf("the exporter rejects the plane's simulation file: %v\n%s", err, data)
	}
	if s := states[2]; s.UtilizationPercent != 85 || s.MemoryUsedMB != 20000 || s.TemperatureCelsius != 73 || s.BurstPeriod != 2500*time.Millisecond {
		t.Errorf("GPU 2: %+v, want 85 %% in bursts every 2.5 s", s)
	}
	for _, i := range []int{5, 6} {
		if s := states[i]; s.UtilizationPercent != 40 || s.MemoryUsedMB != 40960 || s.BurstPeriod != 0 {
			t.Errorf("GPU %d: %+v, want a steady 40 %% and memory capped at 40960 MB", i, s)
		}
	}
	if s := states[0]; s.UtilizationPercent != 0 || s.MemoryUsedMB != 0 {
		t.Errorf("idle GPU 0: %+v", s)
	}
	other, err := simulated.ParseNode(data, lim, "gpu-node-1")
	if err != nil || other[0].UtilizationPercent != 0 {
		t.Errorf("node without load: %+v, %v; want idle", other[0], err)
	}
}

// The load file the plane writes is read by the stand-in service's own
// parser, with each service's demand split across its running pods.
func TestLoadFileMatchesStandinParser(t *testing.T) {
	data, err := LoadFile(map[string]loadmodel.Demand{
		"gpu-management-service": {CPUMillicores: 49, MemoryMiB: 300},
		"embedding-service":      {GPUUtilization: 400},
		"nobody-runs":            {CPUMillicores: 10},
	}, map[string]int{"gpu-management-service": 2, "embedding-service": 3})
	if err != nil {
		t.Fatal(err)
	}
	loads, err := standin.ParseLoads(data)
	if err != nil {
		t.Fatalf("the stand-in rejects the plane's load file: %v\n%s", err, data)
	}
	if l := loads["gpu-management-service"]; l.CPUMillicores != 24.5 || l.MemoryMiB != 150 {
		t.Errorf("gpu-management-service per pod: %+v, want 24.5m and 150 MiB", l)
	}
	if len(loads) != 1 || strings.Contains(string(data), "embedding") {
		t.Errorf("services without CPU or memory demand, or without pods, are listed: %s", data)
	}
}
