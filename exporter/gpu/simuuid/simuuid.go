// Package simuuid derives the UUIDs of simulated GPUs. It is the one owner
// of that fact: the exporter's simulated backend names its devices with it,
// and the sandbox's fake device plugin advertises the same IDs to the
// kubelet, so the pod-resources API hands out exactly the UUIDs the exporter
// reports. It has no cgo dependency (unlike go-nvml's mocks).
package simuuid

import (
	"slices"
	"strconv"

	"github.com/google/uuid"
)

// Models and their GPU counts (go-nvml's mock DGX servers have 8 each).
var deviceCounts = map[string]int{"dgxa100": 8, "dgxh100": 8, "dgxh200": 8}

// Models lists the simulated models, sorted.
func Models() []string {
	models := make([]string, 0, len(deviceCounts))
	for m := range deviceCounts {
		models = append(models, m)
	}
	slices.Sort(models)
	return models
}

// MaxDevices bounds the GPUs one simulated node can have.
const MaxDevices = 64

// Devices is the default number of GPUs of a simulated model (its DGX
// server's), 0 for an unknown one.
func Devices(model string) int { return deviceCounts[model] }

// UUID is the stable UUID of GPU index on node for model, in the form NVML
// reports ("GPU-" and a name-based UUID).
func UUID(node, model string, index int) string {
	return "GPU-" + uuid.NewSHA1(uuid.NameSpaceOID, []byte(node+"/"+model+"/"+strconv.Itoa(index))).String()
}

// MaxMIGDevices is the most MIG devices one simulated GPU is split into: the
// 7 compute slices of an A100, H100 or H200 (seven 1g instances).
const MaxMIGDevices = 7

// MIGUUID is the stable UUID of MIG device mig of the GPU whose UUID is
// parent, in the form NVML reports for MIG devices ("MIG-" and a UUID).
func MIGUUID(parent string, mig int) string {
	return "MIG-" + uuid.NewSHA1(uuid.NameSpaceOID, []byte(parent+"/mig/"+strconv.Itoa(mig))).String()
}
