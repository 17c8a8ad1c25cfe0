// Package testnode is the simulated GPU node the exporter's tests and
// benchmarks measure (the setup of the README's figures): a simulation file
// for the 8 GPUs of a dgxa100 and a fake kubelet that allocates every GPU to
// two time-slicing pods, 16 pods in all.
package testnode

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medical-kg/gpu-autoscaling/exporter/podresources/podresourcestest"
)

// GPUs is the number of simulated GPUs, PodsPerGPU the pods sharing each.
const (
	GPUs       = 8
	PodsPerGPU = 2
)

// Node is the files of one simulated node; they and the fake kubelet are
// removed when the test or benchmark ends.
type Node struct {
	// SimulationFile holds GPU i as uuid GPU-bench-<i> at 10*i %,
	// 1000*i MiB and 40+i °C (--simulation-file).
	SimulationFile string
	// KubeletSocket serves pods embedding-service-<i>-<r> (namespace
	// medical-kg, container embedding), r < PodsPerGPU, each allocated
	// replica GPU-bench-<i>::<r> of GPU i (--pod-resources-socket).
	KubeletSocket string
}

// New writes the simulation file and starts the fake kubelet.
func New(tb testing.TB) Node {
	tb.Helper()
	dir := podresourcestest.ShortDir(tb)
	var sim strings.Builder
	sim.WriteString("gpus:\n")
	var allocs []podresourcestest.Allocation
	for i := range GPUs {
		uuid := fmt.Sprintf("GPU-bench-%d", i)
		fmt.Fprintf(&sim, "  - {index: %d, uuid: %s, utilizationPercent: %d, memoryUsedMB: %d, temperatureCelsius: %d}\n", i, uuid, 10*i, 1000*i, 40+i)
		for r := range PodsPerGPU {
			allocs = append(allocs, podresourcestest.Allocation{
				Namespace: "medical-kg", Pod: fmt.Sprintf("embedding-service-%d-%d", i, r), Container: "embedding",
				ResourceName: "nvidia.com/gpu", DeviceIDs: []string{fmt.Sprintf("%s::%d", uuid, r)},
			})
		}
	}
	n := Node{SimulationFile: filepath.Join(dir, "sim.yaml"), KubeletSocket: filepath.Join(dir, "kubelet.sock")}
	if err := os.WriteFile(n.SimulationFile, []byte(sim.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	kube, err := podresourcestest.NewServer(n.KubeletSocket)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(kube.Close)
	kube.SetAllocations(allocs)
	return n
}
