// Package loadmodel is the load model of the sandbox, the demo and the e2e
// suite: a service's demand (GPU work, GPU memory, cpu, memory, requests) as
// totals, split across its running pods the way a load balancer in front of
// identical replicas would (evenly, or the GPU work by the requests each pod
// answered), and the replica count the HPA algorithm derives from such a
// load.
package loadmodel

import (
	"math"
)

// Demand is the load one service must carry, as totals across all its pods.
// The load model splits it evenly over the service's running pods, the way a
// load balancer in front of identical replicas would.
type Demand struct {
	// GPUUtilization is the GPU work in "percent of one GPU" units: 400 means
	// four GPUs fully busy. Each pod's GPUs report min(100, total/pods).
	GPUUtilization float64 `json:"gpuUtilization"`
	// GPUMemoryMB is the GPU memory the service's working set needs in total;
	// each pod holds total/pods, spread over its GPUs (capped at their size).
	GPUMemoryMB float64 `json:"gpuMemoryMB"`
	// CPUMillicores and MemoryMiB are the container usage kwok reports for
	// metrics-server (annotations kwok.x-k8s.io/usage-cpu and usage-memory).
	CPUMillicores float64 `json:"cpuMillicores"`
	MemoryMiB     float64 `json:"memoryMiB"`
	// RequestsPerSecond is the inference traffic the service receives in
	// total: the GPU plane sends it as real HTTP requests, split evenly
	// over the running pods, which count and time them
	// (service_requests_total, service_response_time_seconds).
	RequestsPerSecond float64 `json:"requestsPerSecond"`
	// GPUBurstPeriodSeconds, when above zero, makes the GPU work bursty, as
	// a batching inference server's is: each GPU is fully busy for its share
	// of every period and idle for the rest, so its mean is the same
	// utilization while any single instant reads 0 or 100. Zero is a steady
	// load.
	GPUBurstPeriodSeconds float64 `json:"gpuBurstPeriodSeconds,omitempty"`
}

// RequestsPerPod is the traffic one pod's worth of load carries in the
// demo's and the e2e suite's scenarios, in requests per second: the request
// rate moves with the rest of the load.
const RequestsPerPod = 5.0

// PodLoad is one pod's share of a Demand.
type PodLoad struct {
	GPUUtilization float64 // percent, per GPU of the pod (0..100)
	GPUMemoryMB    float64 // per pod (all its GPUs together)
	CPUMillicores  float64
	MemoryMiB      float64
	// GPUBurstPeriodSeconds is the demand's (0: steady).
	GPUBurstPeriodSeconds float64
}

// Split divides a demand evenly across pods. gpuMemoryCapMB bounds each pod's
// GPU memory (its GPUs' total); zero means no cap. Pods are returned in the
// order given; no pods means no load is placed anywhere.
func (d Demand) Split(pods []string, gpuMemoryCapMB float64) map[string]PodLoad {
	out := make(map[string]PodLoad, len(pods))
	if len(pods) == 0 {
		return out
	}
	n := float64(len(pods))
	util := math.Min(100, math.Max(0, d.GPUUtilization/n))
	mem := math.Max(0, d.GPUMemoryMB/n)
	if gpuMemoryCapMB > 0 {
		mem = math.Min(mem, gpuMemoryCapMB)
	}
	for _, p := range pods {
		out[p] = PodLoad{GPUUtilization: util, GPUMemoryMB: mem,
			CPUMillicores: math.Max(0, d.CPUMillicores/n), MemoryMiB: math.Max(0, d.MemoryMiB/n),
			GPUBurstPeriodSeconds: math.Max(0, d.GPUBurstPeriodSeconds)}
	}
	return out
}

// SplitByRequests is Split, except that the GPU work follows the traffic:
// each pod's GPUs get the share of GPUUtilization that its share of the
// requests served (served[pod], any unit, over the same recent window for
// every pod) is, so a pod that answers nothing — not Ready yet, failing,
// or left out by the load balancer — has idle GPUs, as an inference server
// does. GPU memory (the model's weights and working set), CPU and memory
// stay even. When no pod served anything the split is even, as Split's.
func (d Demand) SplitByRequests(pods []string, served map[string]float64, gpuMemoryCapMB float64) map[string]PodLoad {
	out := d.Split(pods, gpuMemoryCapMB)
	total := 0.0
	for _, p := range pods {
		total += math.Max(0, served[p])
	}
	if total <= 0 {
		return out
	}
	for _, p := range pods {
		l := out[p]
		l.GPUUtilization = math.Min(100, math.Max(0, d.GPUUtilization*math.Max(0, served[p])/total))
		out[p] = l
	}
	return out
}

// DesiredReplicas is what the HPA algorithm computes for an AverageValue
// target when a total load is spread evenly across pods and no pod is
// capped: ceil(total/target), clamped to [min, max].
func DesiredReplicas(total, target float64, minReplicas, maxReplicas int) int {
	if target <= 0 {
		return minReplicas
	}
	n := int(math.Ceil(total/target - 1e-9))
	if n < minReplicas {
		n = minReplicas
	}
	if n > maxReplicas {
		n = maxReplicas
	}
	return n
}
