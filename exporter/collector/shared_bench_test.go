package collector_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/medical-kg/gpu-autoscaling/exporter/collector"
	"github.com/medical-kg/gpu-autoscaling/exporter/gpu"
	"github.com/medical-kg/gpu-autoscaling/exporter/gpushare"
	"github.com/medical-kg/gpu-autoscaling/exporter/hostmetrics"
	"github.com/medical-kg/gpu-autoscaling/exporter/podresources"
)

// BenchmarkCollectSharedGPUs is one collection of 8 time-sliced GPUs with
// 16 processes each (2 per pod, 8 pods per GPU), whole-GPU values against
// per-process attribution (NVML per-process calls, 128 cgroup files read,
// the split). Issue 15's figure: the cost per collection it adds.
func BenchmarkCollectSharedGPUs(b *testing.B) {
	const gpus, procsPerGPU, procsPerPod = 8, 16, 2
	cgroups := map[string]string{}
	pods := map[string]string{}
	owners := map[string][]podresources.Owner{}
	devs := make([]*mock.Device, gpus)
	for g := range gpus {
		uuid := fmt.Sprintf("GPU-00000000-0000-4000-8000-%012d", g)
		var infos []nvml.ProcessInfo
		for p := range procsPerGPU {
			pid := uint32(1000 + g*procsPerGPU + p)
			pod := g*procsPerGPU/procsPerPod + p/procsPerPod
			uid := fmt.Sprintf("00000000-0000-4000-8000-%012d", pod)
			name := "svc-" + strconv.Itoa(pod)
			cgroups[strconv.Itoa(int(pid))] = "/sandbox/kubepods/burstable/pod" + uid + "/ctr" + strconv.Itoa(int(pid))
			pods[uid] = "ml/" + name
			infos = append(infos, nvml.ProcessInfo{Pid: pid, UsedGpuMemory: 1 << 30})
			if p%procsPerPod == 0 {
				owners[uuid] = append(owners[uuid], podresources.Owner{Namespace: "ml", Pod: name, Container: "server"})
			}
		}
		devs[g] = benchDevice(uuid, infos)
	}
	lib := &mock.Interface{
		InitFunc:                   func() nvml.Return { return nvml.SUCCESS },
		ShutdownFunc:               func() nvml.Return { return nvml.SUCCESS },
		DeviceGetCountFunc:         func() (int, nvml.Return) { return gpus, nvml.SUCCESS },
		DeviceGetHandleByIndexFunc: func(i int) (nvml.Device, nvml.Return) { return devs[i], nvml.SUCCESS },
	}
	proc := podProc(b, cgroups)
	for _, perProcess := range []bool{false, true} {
		b.Run(fmt.Sprintf("per_process=%v", perProcess), func(b *testing.B) {
			cfg := collector.Config{NodeName: "node-a", Backend: "nvml", Interval: time.Second,
				GPU: gpu.NewReader(lib, time.Second), Owners: fixedOwners(owners), Host: hostmetrics.NewReader(proc)}
			if perProcess {
				cfg.GPU = gpu.NewReader(lib, time.Second).WithProcesses()
				cfg.PodOf = gpushare.CgroupPodOf(proc, func(uid string) (string, bool) { p, ok := pods[uid]; return p, ok })
			}
			c, err := collector.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(c)
			b.ReportAllocs()
			for b.Loop() {
				c.CollectOnce(context.Background())
			}
			b.StopTimer()
			mfs, err := reg.Gather()
			if err != nil {
				b.Fatal(err)
			}
			var series int
			for _, mf := range mfs {
				series += len(mf.GetMetric())
			}
			b.ReportMetric(float64(series), "series")
		})
	}
}

// benchDevice is a GPU at 80 % whose processes each run at 5 %.
func benchDevice(uuid string, infos []nvml.ProcessInfo) *mock.Device {
	return &mock.Device{
		GetUUIDFunc:    func() (string, nvml.Return) { return uuid, nvml.SUCCESS },
		GetNameFunc:    func() (string, nvml.Return) { return "NVIDIA A100-SXM4-40GB", nvml.SUCCESS },
		GetMigModeFunc: func() (int, int, nvml.Return) { return 0, 0, nvml.ERROR_NOT_SUPPORTED },
		GetSamplesFunc: func(nvml.SamplingType, uint64) (nvml.ValueType, []nvml.Sample, nvml.Return) {
			return nvml.VALUE_TYPE_UNSIGNED_INT, []nvml.Sample{{TimeStamp: uint64(time.Now().UnixMicro()), SampleValue: gpu.EncodeUint32Sample(80)}}, nvml.SUCCESS
		},
		GetMemoryInfo_v2Func: func() (nvml.Memory_v2, nvml.Return) {
			return nvml.Memory_v2{Total: 40 << 30, Used: uint64(len(infos)) << 30}, nvml.SUCCESS
		},
		GetTemperatureFunc:              func(nvml.TemperatureSensors) (uint32, nvml.Return) { return 60, nvml.SUCCESS },
		GetComputeRunningProcessesFunc:  func() ([]nvml.ProcessInfo, nvml.Return) { return infos, nvml.SUCCESS },
		GetGraphicsRunningProcessesFunc: func() ([]nvml.ProcessInfo, nvml.Return) { return nil, nvml.SUCCESS },
		GetProcessUtilizationFunc: func(uint64) ([]nvml.ProcessUtilizationSample, nvml.Return) {
			now := uint64(time.Now().UnixMicro())
			out := make([]nvml.ProcessUtilizationSample, len(infos))
			for i, in := range infos {
				out[i] = nvml.ProcessUtilizationSample{Pid: in.Pid, TimeStamp: now, SmUtil: 5}
			}
			return out, nvml.SUCCESS
		},
	}
}
