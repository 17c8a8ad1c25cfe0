package collector_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/medical-kg/gpu-autoscaling/exporter/collector"
	"github.com/medical-kg/gpu-autoscaling/exporter/gpu"
	"github.com/medical-kg/gpu-autoscaling/exporter/gpushare"
	"github.com/medical-kg/gpu-autoscaling/exporter/hostmetrics"
	"github.com/medical-kg/gpu-autoscaling/exporter/podresources"
)

const sharedUUID = "GPU-11111111-2222-4333-8444-555555555555"

// sharedGPU is one time-sliced GPU at 80 %: pid 101 (embedding) runs at
// 20 % with 2 GiB, pid 102 (reranking) at 60 % with 6 GiB, pid 103 (a
// host process) holds 1 GiB; perProcess selects whether NVML answers the
// per-process calls.
func sharedGPU(perProcess nvml.Return) *mock.Interface {
	now := uint64(time.Now().UnixMicro())
	dev := &mock.Device{
		GetUUIDFunc:    func() (string, nvml.Return) { return sharedUUID, nvml.SUCCESS },
		GetNameFunc:    func() (string, nvml.Return) { return "NVIDIA A100-SXM4-40GB", nvml.SUCCESS },
		GetMigModeFunc: func() (int, int, nvml.Return) { return 0, 0, nvml.ERROR_NOT_SUPPORTED },
		GetSamplesFunc: func(nvml.SamplingType, uint64) (nvml.ValueType, []nvml.Sample, nvml.Return) {
			return nvml.VALUE_TYPE_UNSIGNED_INT, []nvml.Sample{{TimeStamp: now, SampleValue: gpu.EncodeUint32Sample(80)}}, nvml.SUCCESS
		},
		GetMemoryInfo_v2Func: func() (nvml.Memory_v2, nvml.Return) {
			return nvml.Memory_v2{Total: 40 << 30, Used: 9 << 30}, nvml.SUCCESS
		},
		GetTemperatureFunc: func(nvml.TemperatureSensors) (uint32, nvml.Return) { return 60, nvml.SUCCESS },
		GetComputeRunningProcessesFunc: func() ([]nvml.ProcessInfo, nvml.Return) {
			return []nvml.ProcessInfo{{Pid: 101, UsedGpuMemory: 2 << 30}, {Pid: 102, UsedGpuMemory: 6 << 30}, {Pid: 103, UsedGpuMemory: 1 << 30}}, perProcess
		},
		GetGraphicsRunningProcessesFunc: func() ([]nvml.ProcessInfo, nvml.Return) { return nil, perProcess },
		GetProcessUtilizationFunc: func(uint64) ([]nvml.ProcessUtilizationSample, nvml.Return) {
			return []nvml.ProcessUtilizationSample{
				{Pid: 101, TimeStamp: now - 2, SmUtil: 10}, {Pid: 101, TimeStamp: now - 1, SmUtil: 30},
				{Pid: 102, TimeStamp: now - 1, SmUtil: 60},
			}, perProcess
		},
	}
	return &mock.Interface{
		InitFunc:                   func() nvml.Return { return nvml.SUCCESS },
		ShutdownFunc:               func() nvml.Return { return nvml.SUCCESS },
		DeviceGetCountFunc:         func() (int, nvml.Return) { return 1, nvml.SUCCESS },
		DeviceGetHandleByIndexFunc: func(int) (nvml.Device, nvml.Return) { return dev, nvml.SUCCESS },
	}
}

type fixedOwners map[string][]podresources.Owner

func (f fixedOwners) Owners(context.Context) (map[string][]podresources.Owner, error) { return f, nil }

// podProc writes a /proc tree: each pid's cgroup file (cgroup v1,
// cgroupfs driver, containerd naming, as the kubelet here writes them).
func podProc(t testing.TB, cgroups map[string]string) string {
	t.Helper()
	root := fakeProc(t)
	for pid, path := range cgroups {
		dir := filepath.Join(root, pid)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		data := "12:memory:" + path + "\n1:name=systemd:/\n0::/\n"
		if err := os.WriteFile(filepath.Join(dir, "cgroup"), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func sharedCollector(t *testing.T, perProcess nvml.Return) *prometheus.Registry {
	t.Helper()
	const embUID, rrUID = "0b6e1d2c-1111-4222-8333-444455556666", "7c1f2e3d-aaaa-4bbb-8ccc-ddddeeeeffff"
	proc := podProc(t, map[string]string{
		"101": "/sandbox/kubepods/burstable/pod" + embUID + "/4f3c2b1a",
		"102": "/sandbox/kubepods/besteffort/pod" + rrUID + "/cri-containerd-9a8b7c6d.scope",
		"103": "/system.slice/nvidia-persistenced.service",
	})
	pods := map[string]string{embUID: "ml/embedding-0", rrUID: "ml/reranking-0"}
	c, err := collector.New(collector.Config{
		NodeName: "node-a", Backend: "nvml", Interval: time.Second,
		GPU: gpu.NewReader(sharedGPU(perProcess), time.Second).WithProcesses(),
		Owners: fixedOwners{sharedUUID: {
			{Namespace: "ml", Pod: "embedding-0", Container: "server"},
			{Namespace: "ml", Pod: "reranking-0", Container: "server"},
		}},
		PodOf: gpushare.CgroupPodOf(proc, func(uid string) (string, bool) { p, ok := pods[uid]; return p, ok }),
		Host:  hostmetrics.NewReader(proc),
	})
	if err != nil {
		t.Fatal(err)
	}
	c.CollectOnce(context.Background())
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	return reg
}

const sharedLabels = `gpu="0",model="NVIDIA A100-SXM4-40GB",namespace="ml",node="node-a"`

const uuidLabel = `,uuid="` + sharedUUID + `"`

func TestSharedGPUReportsEachPodItsOwnProcesses(t *testing.T) {
	reg := sharedCollector(t, nvml.SUCCESS)
	want := `
# HELP gpu_utilization_percent GPU utilization in percent, averaged over the collection interval from NVML's sample buffer (see gpu_exporter_gpus).
# TYPE gpu_utilization_percent gauge
gpu_utilization_percent{container="server",` + sharedLabels + `,pod="embedding-0"` + uuidLabel + `} 20
gpu_utilization_percent{container="server",` + sharedLabels + `,pod="reranking-0"` + uuidLabel + `} 60
# HELP gpu_memory_usage_mb GPU memory in use, in MiB (NVML memory info v2, v1 where v2 is unsupported).
# TYPE gpu_memory_usage_mb gauge
gpu_memory_usage_mb{container="server",` + sharedLabels + `,pod="embedding-0"` + uuidLabel + `} 2048
gpu_memory_usage_mb{container="server",` + sharedLabels + `,pod="reranking-0"` + uuidLabel + `} 6144
# HELP gpu_exporter_shared_gpus ` + sharedHelp + `
# TYPE gpu_exporter_shared_gpus gauge
gpu_exporter_shared_gpus{attribution="per_process"} 1
gpu_exporter_shared_gpus{attribution="whole_gpu"} 0
# HELP gpu_exporter_unattributed_processes Processes on shared GPUs at the last collection whose cgroup names no pod that holds the GPU (host processes, pods without a GPU allocation).
# TYPE gpu_exporter_unattributed_processes gauge
gpu_exporter_unattributed_processes 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "gpu_utilization_percent", "gpu_memory_usage_mb",
		"gpu_exporter_shared_gpus", "gpu_exporter_unattributed_processes"); err != nil {
		t.Fatal(err)
	}
}

func TestSharedGPUFallsBackToWholeGPUWithoutProcessData(t *testing.T) {
	reg := sharedCollector(t, nvml.ERROR_NO_PERMISSION)
	want := `
# HELP gpu_utilization_percent GPU utilization in percent, averaged over the collection interval from NVML's sample buffer (see gpu_exporter_gpus).
# TYPE gpu_utilization_percent gauge
gpu_utilization_percent{container="server",` + sharedLabels + `,pod="embedding-0"` + uuidLabel + `} 80
gpu_utilization_percent{container="server",` + sharedLabels + `,pod="reranking-0"` + uuidLabel + `} 80
# HELP gpu_exporter_shared_gpus ` + sharedHelp + `
# TYPE gpu_exporter_shared_gpus gauge
gpu_exporter_shared_gpus{attribution="per_process"} 0
gpu_exporter_shared_gpus{attribution="whole_gpu"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "gpu_utilization_percent", "gpu_exporter_shared_gpus"); err != nil {
		t.Fatal(err)
	}
}

const sharedHelp = "GPUs several pods hold (time-slicing, MPS) at the last collection, by attribution: per_process (each pod's series carry its own processes' utilization and memory) or whole_gpu (per-process data unavailable: each pod's series carry the whole GPU's values). Exported with per-process attribution on."
