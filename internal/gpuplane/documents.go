package gpuplane

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"sigs.k8s.io/yaml"

	"github.com/medical-kg/gpu-autoscaling/internal/loadmodel"
)

// GPU is one GPU a pod holds, as the exporter attributes it.
type GPU struct {
	Node          string
	Index         int
	MemoryTotalMB float64
}

// simGPU is one GPU entry of the exporter's simulation file.
type simGPU struct {
	Index              int     `json:"index"`
	UtilizationPercent float64 `json:"utilizationPercent"`
	MemoryUsedMB       uint64  `json:"memoryUsedMB"`
	TemperatureCelsius float64 `json:"temperatureCelsius"`
	BurstPeriodSeconds float64 `json:"burstPeriodSeconds,omitempty"`
}

type simNode struct {
	GPUs []simGPU `json:"gpus"`
}

// SimulationFile renders the exporter's simulation file for the pods' GPU
// loads: one section per node, each loaded GPU with its pod's utilization,
// its share of the pod's GPU memory (capped at the GPU's size) and a
// temperature that follows the utilization, and a bursty load's period; GPUs
// not listed are idle. Every
// node in nodes gets a section (an empty one keeps the node idle).
func SimulationFile(nodes []string, gpus map[string][]GPU, loads map[string]loadmodel.PodLoad) ([]byte, error) {
	doc := struct {
		GPUs  []simGPU           `json:"gpus"`
		Nodes map[string]simNode `json:"nodes"`
	}{GPUs: []simGPU{}, Nodes: map[string]simNode{}}
	for _, n := range nodes {
		doc.Nodes[n] = simNode{GPUs: []simGPU{}}
	}
	for _, pod := range slices.Sorted(maps.Keys(gpus)) {
		l, ok := loads[pod]
		held := gpus[pod]
		if !ok || len(held) == 0 {
			continue
		}
		for _, g := range held {
			mem := math.Min(l.GPUMemoryMB/float64(len(held)), g.MemoryTotalMB)
			n := doc.Nodes[g.Node]
			n.GPUs = append(n.GPUs, simGPU{Index: g.Index, UtilizationPercent: math.Round(l.GPUUtilization*10) / 10,
				MemoryUsedMB: uint64(math.Max(0, mem)), TemperatureCelsius: math.Round(35 + 0.45*l.GPUUtilization),
				BurstPeriodSeconds: l.GPUBurstPeriodSeconds})
			doc.Nodes[g.Node] = n
		}
	}
	for name, n := range doc.Nodes {
		slices.SortFunc(n.GPUs, func(a, b simGPU) int { return a.Index - b.Index })
		doc.Nodes[name] = n
	}
	data, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode simulation file: %w", err)
	}
	return data, nil
}

// LoadFile renders the stand-in services' load file: per service, the CPU
// and memory each of its pods holds (the demand split across its running
// pods). Services without CPU or memory demand are left out (their pods
// idle at their natural usage).
func LoadFile(demand map[string]loadmodel.Demand, running map[string]int) ([]byte, error) {
	type load struct {
		CPUMillicores float64 `json:"cpuMillicores"`
		MemoryMiB     float64 `json:"memoryMiB"`
	}
	doc := struct {
		Services map[string]load `json:"services"`
	}{Services: map[string]load{}}
	for svc, d := range demand {
		n := running[svc]
		if n == 0 || (d.CPUMillicores <= 0 && d.MemoryMiB <= 0) {
			continue
		}
		doc.Services[svc] = load{CPUMillicores: math.Round(math.Max(0, d.CPUMillicores)/float64(n)*10) / 10,
			MemoryMiB: math.Round(math.Max(0, d.MemoryMiB)/float64(n)*10) / 10}
	}
	data, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode load file: %w", err)
	}
	return data, nil
}
