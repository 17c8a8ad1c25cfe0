package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/medical-kg/gpu-autoscaling/exporter/podresources"
)

// descs describe every metric the collector emits.
type descs struct {
	util, memUsed, memTotal, temp *prometheus.Desc
	cpu, mem                      *prometheus.Desc
	up, podResourcesUp, gpus      *prometheus.Desc
	sharedGPUs, unattributed      *prometheus.Desc
	errors, collections           *prometheus.Desc
	duration, timestamp           *prometheus.Desc
}

var gpuLabels = []string{"gpu", "uuid", "model", "node", "namespace", "pod", "container"}

func newDescs() descs {
	return descs{
		util: prometheus.NewDesc("gpu_utilization_percent",
			"GPU utilization in percent, averaged over the collection interval from NVML's sample buffer (see gpu_exporter_gpus).", gpuLabels, nil),
		memUsed: prometheus.NewDesc("gpu_memory_usage_mb",
			"GPU memory in use, in MiB (NVML memory info v2, v1 where v2 is unsupported).", gpuLabels, nil),
		memTotal: prometheus.NewDesc("gpu_memory_total_mb",
			"Total GPU memory, in MiB.", gpuLabels, nil),
		temp: prometheus.NewDesc("gpu_temperature_celsius",
			"GPU core temperature in degrees Celsius.", gpuLabels, nil),
		cpu: prometheus.NewDesc("cpu_usage_percent",
			"Node CPU usage in percent of all CPUs, over the collection interval (/proc/stat).", []string{"node"}, nil),
		mem: prometheus.NewDesc("memory_usage_mb",
			"Node memory in use (MemTotal - MemAvailable), in MiB (/proc/meminfo).", []string{"node"}, nil),
		up: prometheus.NewDesc("gpu_exporter_up",
			"1 if the GPU backend answered at the last collection, 0 otherwise (for example libnvidia-ml missing).", []string{"backend"}, nil),
		podResourcesUp: prometheus.NewDesc("gpu_exporter_pod_resources_up",
			"1 if the kubelet pod-resources API answered at the last collection, 0 otherwise (series are then unattributed).", nil, nil),
		gpus: prometheus.NewDesc("gpu_exporter_gpus",
			"GPUs reported at the last collection, by how gpu_utilization_percent was obtained: sampled (average of NVML's samples over the interval), instantaneous (the device keeps no samples), unavailable (MIG-enabled GPU).",
			[]string{"utilization"}, nil),
		sharedGPUs: prometheus.NewDesc("gpu_exporter_shared_gpus",
			"GPUs several pods hold (time-slicing, MPS) at the last collection, by attribution: per_process (each pod's series carry its own processes' utilization and memory) or whole_gpu (per-process data unavailable: each pod's series carry the whole GPU's values). Exported with per-process attribution on.",
			[]string{"attribution"}, nil),
		unattributed: prometheus.NewDesc("gpu_exporter_unattributed_processes",
			"Processes on shared GPUs at the last collection whose cgroup names no pod that holds the GPU (host processes, pods without a GPU allocation).", nil, nil),
		errors: prometheus.NewDesc("gpu_exporter_collection_errors_total",
			"Collection errors by source (gpu, pod_resources, host, simulation_file) and reason.", []string{"source", "reason"}, nil),
		collections: prometheus.NewDesc("gpu_exporter_collections_total",
			"Number of collections run.", nil, nil),
		duration: prometheus.NewDesc("gpu_exporter_last_collection_duration_seconds",
			"Duration of the last collection.", nil, nil),
		timestamp: prometheus.NewDesc("gpu_exporter_last_collection_timestamp_seconds",
			"Unix time the last collection finished.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	d := c.descs
	for _, desc := range []*prometheus.Desc{d.util, d.memUsed, d.memTotal, d.temp, d.cpu, d.mem,
		d.up, d.podResourcesUp, d.gpus, d.sharedGPUs, d.unattributed, d.errors, d.collections, d.duration, d.timestamp} {
		ch <- desc
	}
}

// Collect implements prometheus.Collector: it builds ConstMetrics from the
// latest snapshot and never blocks on the GPU or the kubelet.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.snap.Load()
	d := c.descs
	node := c.cfg.NodeName
	gauge := prometheus.GaugeValue

	ch <- prometheus.MustNewConstMetric(d.up, gauge, boolFloat(s.gpuUp), c.cfg.Backend)
	if !s.done {
		return
	}
	ch <- prometheus.MustNewConstMetric(d.collections, prometheus.CounterValue, float64(s.collections))
	ch <- prometheus.MustNewConstMetric(d.duration, gauge, s.duration.Seconds())
	ch <- prometheus.MustNewConstMetric(d.timestamp, gauge, float64(s.at.UnixNano())/1e9)
	for _, e := range s.errors {
		ch <- prometheus.MustNewConstMetric(d.errors, prometheus.CounterValue, e.count, e.key.source, e.key.reason)
	}
	if c.cfg.Owners != nil {
		ch <- prometheus.MustNewConstMetric(d.podResourcesUp, gauge, boolFloat(s.podResourcesOK))
	}
	if s.gpuUp {
		var sampled, instantaneous, unavailable float64
		for i := range s.devices {
			switch r := &s.devices[i].reading; {
			case !r.HasUtilization:
				unavailable++
			case r.UtilizationSamples > 0:
				sampled++
			default:
				instantaneous++
			}
		}
		ch <- prometheus.MustNewConstMetric(d.gpus, gauge, sampled, "sampled")
		ch <- prometheus.MustNewConstMetric(d.gpus, gauge, instantaneous, "instantaneous")
		ch <- prometheus.MustNewConstMetric(d.gpus, gauge, unavailable, "unavailable")
	}
	if c.cfg.PodOf != nil {
		ch <- prometheus.MustNewConstMetric(d.sharedGPUs, gauge, s.sharedPerProcess, "per_process")
		ch <- prometheus.MustNewConstMetric(d.sharedGPUs, gauge, s.sharedWhole, "whole_gpu")
		ch <- prometheus.MustNewConstMetric(d.unattributed, gauge, s.unattributed)
	}
	if s.haveCPU {
		ch <- prometheus.MustNewConstMetric(d.cpu, gauge, s.cpu, node)
	}
	if s.haveMem {
		ch <- prometheus.MustNewConstMetric(d.mem, gauge, s.mem, node)
	}
	unallocated := []podresources.Owner{{}}
	for i := range s.devices {
		dev := &s.devices[i]
		r := &dev.reading
		owners := dev.owners
		if len(owners) == 0 {
			owners = unallocated
		}
		for j, o := range owners {
			util, memUsed, memTotal := r.UtilizationPercent, r.MemoryUsedBytes, r.MemoryTotalBytes
			if dev.shares != nil {
				util, memUsed = dev.shares[j].UtilizationPercent, dev.shares[j].MemoryUsedBytes
			}
			if dev.migMemory != nil {
				memUsed, memTotal = dev.migMemory[j].used, dev.migMemory[j].total
			}
			if r.HasUtilization {
				ch <- prometheus.MustNewConstMetric(d.util, gauge, util, dev.index, r.UUID, r.Model, node, o.Namespace, o.Pod, o.Container)
			}
			ch <- prometheus.MustNewConstMetric(d.memUsed, gauge, float64(memUsed)/(1<<20), dev.index, r.UUID, r.Model, node, o.Namespace, o.Pod, o.Container)
			ch <- prometheus.MustNewConstMetric(d.memTotal, gauge, float64(memTotal)/(1<<20), dev.index, r.UUID, r.Model, node, o.Namespace, o.Pod, o.Container)
			ch <- prometheus.MustNewConstMetric(d.temp, gauge, r.TemperatureCelsius, dev.index, r.UUID, r.Model, node, o.Namespace, o.Pod, o.Container)
		}
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
