package simulated

import (
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/medical-kg/gpu-autoscaling/exporter/gpu/simuuid"
)

// MIG devices are named from their GPU's UUID — the file's override
// included — and answered as NVML does: the GPU's slots beyond the devices
// created are not found, and the GPU has no utilization.
func TestMIGDevices(t *testing.T) {
	if _, err := New(Options{Model: "dgxa100", MIGDevices: 8}); err == nil || !strings.Contains(err.Error(), "want 0 (MIG off)..7") {
		t.Fatalf("8 MIG devices per GPU: error %v", err)
	}
	src := &fileSource{data: "gpus: [{index: 1, uuid: GPU-custom-1, memoryUsedMB: 3000}]"}
	sim, err := New(Options{Model: "dgxa100", NodeName: "node-a", File: "sim.yaml", ReadFile: src.read, MIGDevices: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Reload(); err != nil { // a collection: the file's UUIDs and load apply
		t.Fatal(err)
	}
	dev, ret := sim.DeviceGetHandleByIndex(1)
	if ret != nvml.SUCCESS {
		t.Fatal(ret)
	}
	if mode, _, ret := dev.GetMigMode(); ret != nvml.SUCCESS || mode != nvml.DEVICE_MIG_ENABLE {
		t.Fatalf("MIG mode %d (%v), want enabled", mode, ret)
	}
	if _, ret := dev.GetUtilizationRates(); ret != nvml.ERROR_NOT_SUPPORTED {
		t.Errorf("utilization of a MIG-enabled GPU: %v, want ERROR_NOT_SUPPORTED", ret)
	}
	if n, ret := dev.GetMaxMigDeviceCount(); ret != nvml.SUCCESS || n != simuuid.MaxMIGDevices {
		t.Errorf("max MIG devices %d (%v), want %d", n, ret, simuuid.MaxMIGDevices)
	}
	for k := range 3 {
		mig, ret := dev.GetMigDeviceHandleByIndex(k)
		if ret != nvml.SUCCESS {
			t.Fatalf("MIG device %d: %v", k, ret)
		}
		if id, _ := mig.GetUUID(); id != simuuid.MIGUUID("GPU-custom-1", k) {
			t.Errorf("MIG device %d UUID %s, want MIGUUID of the file's GPU-custom-1", k, id)
		}
		m, ret := mig.GetMemoryInfo_v2()
		if ret != nvml.SUCCESS || m.Used != 1000<<20 || m.Total != (40960<<20)/8 {
			t.Errorf("MIG device %d memory %+v (%v), want 1000 MiB of 5120 (3000 spread over 3)", k, m, ret)
		}
	}
	if _, ret := dev.GetMigDeviceHandleByIndex(3); ret != nvml.ERROR_NOT_FOUND {
		t.Errorf("MIG slot 3 of 3 devices: %v, want ERROR_NOT_FOUND", ret)
	}
}
