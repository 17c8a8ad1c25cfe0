// Package contract holds the names the product's parts agree on: the default
// release and namespace, the chart folders, the GPU resource and node label,
// the APIServices the adapter and metrics-server register, and the labels
// the chart puts on its objects. Each is defined here once; the commands,
// the sandbox, the demo, doctor and the tests all read them from here.
package contract

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Release defaults (the seed's names).
const (
	DefaultRelease   = "gpu-autoscaling"
	DefaultNamespace = "medical-kg"
	// DefaultChart is the umbrella chart, relative to the repository root.
	DefaultChart = "charts/gpu-autoscaling"
	// DefaultTimeout is how long deploy and undeploy wait for the cluster.
	DefaultTimeout = 5 * time.Minute
	// WorkloadsRelease and WorkloadsChart are the stand-in GPU services.
	WorkloadsRelease = "gpu-services"
	WorkloadsChart   = "charts/gpu-services"
)

// GPU nodes and devices.
const (
	// GPUResource is the extended resource of a whole GPU.
	GPUResource corev1.ResourceName = "nvidia.com/gpu"
	// MIGResourcePrefix starts the extended resources of MIG instances
	// (nvidia.com/mig-1g.5gb, …) under the device plugin's mixed strategy.
	MIGResourcePrefix = "nvidia.com/mig-"
	// GPUPresentLabel is the label the GPU Operator puts on GPU nodes (one of
	// the labels the exporter DaemonSet's node affinity accepts).
	GPUPresentLabel = "nvidia.com/gpu.present"
	// GKEAcceleratorLabel is the label GKE puts on the nodes of GPU node pools.
	GKEAcceleratorLabel = "cloud.google.com/gke-accelerator"
)

// ReportsGPUs says whether a node advertises GPUs: capacity of
// nvidia.com/gpu or of a MIG resource, as the device plugin reports it.
// This, not a label, is what makes a node a GPU node.
func ReportsGPUs(n *corev1.Node) bool {
	for name, q := range n.Status.Capacity {
		if (name == GPUResource || strings.HasPrefix(string(name), MIGResourcePrefix)) && q.Sign() > 0 {
			return true
		}
	}
	return false
}

// Metrics APIs.
const (
	CustomMetricsV1beta1 = "v1beta1.custom.metrics.k8s.io"
	CustomMetricsV1beta2 = "v1beta2.custom.metrics.k8s.io"
	// ResourceMetricsAPIService is metrics-server's cpu/memory API.
	ResourceMetricsAPIService = "v1beta1.metrics.k8s.io"
)

// CustomMetricsAPIServices are the two versions the adapter registers.
func CustomMetricsAPIServices() []string {
	return []string{CustomMetricsV1beta1, CustomMetricsV1beta2}
}

// RequestRateMetric is the Pods metric the adapter's optional requestRate
// rule serves (the per-pod rate of the services' service_requests_total) and
// services.<name>.targets.requestsPerSecond targets.
const RequestRateMetric = "service_requests_per_second"

// Labels and names the chart renders.
const (
	ComponentLabel = "app.kubernetes.io/component"
	InstanceLabel  = "app.kubernetes.io/instance"
	// ExporterJob is the Prometheus job name of the exporter's scrape (the
	// ServiceMonitor's jobLabel).
	ExporterJob = "gpu-metrics-exporter"
	// HPASuffix: the chart names each service's HPA <service>-hpa.
	HPASuffix = "-hpa"
	// ServiceLabel is the pod label that names a GPU service (app=<service>,
	// the seed's troubleshooting selectors).
	ServiceLabel = "app"
	// HPAServiceLabel is the label on each HPA the chart renders: the key of
	// its entry in .Values.services.
	HPAServiceLabel = "gpu-autoscaling.medical-kg.io/service"
)

// The chart's recording rules that map pods to services (_workloads.tpl),
// through the HPAs' scaleTargetRef and kube-state-metrics' owner series.
const (
	// WorkloadServiceRecording: {namespace, service, horizontalpodautoscaler,
	// workload, workload_kind} for each of the release's HPAs.
	WorkloadServiceRecording = "gpu_autoscaling:workload_service:info"
	// PodServiceRecording: {namespace, pod, service, workload, workload_kind}
	// for each pod of an HPA's target.
	PodServiceRecording = "gpu_autoscaling:pod_service:info"
)

// HPAName is the name of a service's HPA.
func HPAName(service string) string { return service + HPASuffix }
