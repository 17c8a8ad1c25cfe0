package gpu

import (
	"errors"
	"slices"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
)

func processDevice(samples []nvml.ProcessUtilizationSample, ret nvml.Return) *mock.Device {
	return &mock.Device{
		GetComputeRunningProcessesFunc: func() ([]nvml.ProcessInfo, nvml.Return) {
			return []nvml.ProcessInfo{{Pid: 101, UsedGpuMemory: 2 << 30}, {Pid: 102, UsedGpuMemory: 6 << 30}}, nvml.SUCCESS
		},
		GetGraphicsRunningProcessesFunc: func() ([]nvml.ProcessInfo, nvml.Return) { return nil, nvml.SUCCESS },
		GetProcessUtilizationFunc: func(last uint64) ([]nvml.ProcessUtilizationSample, nvml.Return) {
			var out []nvml.ProcessUtilizationSample
			for _, s := range samples {
				if s.TimeStamp > last {
					out = append(out, s)
				}
			}
			return out, ret
		},
	}
}

func TestProcessReaderAveragesNewSamplesPerPID(t *testing.T) {
	dev := processDevice([]nvml.ProcessUtilizationSample{
		{Pid: 101, TimeStamp: 10, SmUtil: 99}, // before since: ignored
		{Pid: 101, TimeStamp: 110, SmUtil: 10}, {Pid: 101, TimeStamp: 120, SmUtil: 30},
		{Pid: 102, TimeStamp: 115, SmUtil: 60},
	}, nvml.SUCCESS)
	r := NewProcessReader()
	got, err := r.Read(dev, "GPU-a", 100)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b Process) int { return int(a.PID) - int(b.PID) })
	want := []Process{{PID: 101, SMUtilPercent: 20, Samples: 2, UsedMemoryBytes: 2 << 30}, {PID: 102, SMUtilPercent: 60, Samples: 1, UsedMemoryBytes: 6 << 30}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	// The second read starts after the newest sample consumed (120).
	if _, err := r.Read(dev, "GPU-a", 0); err != nil {
		t.Fatal(err)
	}
	if calls := dev.GetProcessUtilizationCalls(); calls[1].V != 120 {
		t.Errorf("second read asked for samples after %d, want 120", calls[1].V)
	}
}

func TestProcessReaderReportsUnsupported(t *testing.T) {
	_, err := NewProcessReader().Read(processDevice(nil, nvml.ERROR_NO_PERMISSION), "GPU-a", 0)
	if !errors.Is(err, nvml.ERROR_NO_PERMISSION) {
		t.Fatalf("got %v, want ERROR_NO_PERMISSION", err)
	}
}
