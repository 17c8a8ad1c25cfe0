package gpuplane

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/loadmodel"
)

// Where the programs read their files by default (their --flag wins).
const (
	simulationFlag = "--simulation-file="
	loadFileFlag   = "--load-file="
	defaultLoad    = "/etc/gpu-service/load/load.yaml"
)

// Step runs one load step now (the loop runs it every second): it finds
// which GPUs each running service pod holds (from the exporter's attributed
// series, i.e. what the kubelet allocated), splits each service's GPU
// demand across those pods — the GPU work in proportion to the requests
// each answered over the last seconds (half-life 3 s; evenly while the
// service's demand has no traffic), GPU memory evenly — and its CPU and memory
// demand across all its running pods, and writes both ConfigMaps when their
// content changes. Only the loop may call it (it owns the served counts).
func (p *Plane) Step(ctx context.Context) error {
	pods, err := p.cs.CoreV1().Pods(p.opts.Namespace).List(ctx, metav1.ListOptions{LabelSelector: contract.ServiceLabel})
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	byService := map[string][]string{}
	running := map[string]int{}
	targets := map[string][]string{}
	urls := map[string]string{} // pod → its inference URL
	for _, pod := range pods.Items {
		if pod.Status.Phase == corev1.PodRunning && pod.DeletionTimestamp == nil {
			svc := pod.Labels[contract.ServiceLabel]
			byService[svc] = append(byService[svc], pod.Name)
			running[svc]++
			if port, ok := httpPort(&pod); ok && pod.Status.PodIP != "" {
				urls[pod.Name] = podURL(pod.Status.PodIP, port)
				if podutils.IsPodReady(&pod) {
					targets[svc] = append(targets[svc], urls[pod.Name])
				}
			}
		}
	}
	p.mu.Lock()
	p.targets = targets
	p.mu.Unlock()
	nodes, gpus, err := p.attribution(ctx)
	if err != nil {
		return err
	}
	p.mu.Lock()
	demand := make(map[string]loadmodel.Demand, len(p.demand))
	for k, v := range p.demand {
		demand[k] = v
	}
	p.mu.Unlock()
	// The GPU work follows the requests each pod answered lately.
	var servedByURL map[string]float64
	if p.traffic != nil {
		now := time.Now()
		servedByURL = p.traffic.decayServed(now.Sub(p.lastStep))
		p.lastStep = now
	}
	loads := map[string]loadmodel.PodLoad{}
	for svc, d := range demand {
		var attributed []string
		served := map[string]float64{}
		for _, pod := range byService[svc] {
			if len(gpus[pod]) > 0 {
				attributed = append(attributed, pod)
				if d.RequestsPerSecond > 0 { // no traffic now: even, whatever was served before
					served[pod] = servedByURL[urls[pod]]
				}
			}
		}
		for pod, l := range d.SplitByRequests(attributed, served, 0) {
			loads[pod] = l
		}
	}
	var errs []error
	if sim, err := SimulationFile(nodes, gpus, loads); err != nil {
		errs = append(errs, err)
	} else {
		errs = append(errs, p.writeFile(ctx, p.exporterFile, sim))
	}
	if p.workloads != nil {
		if lf, err := LoadFile(demand, running); err != nil {
			errs = append(errs, err)
		} else {
			errs = append(errs, p.writeFile(ctx, p.loadFile, lf))
		}
	}
	return errors.Join(errs...)
}

// attribution reads, from Prometheus, every GPU node the exporters report
// and which GPUs each pod of the namespace holds.
func (p *Plane) attribution(ctx context.Context) ([]string, map[string][]GPU, error) {
	c, err := promapi.NewClient(promapi.Config{Address: p.cluster.PrometheusURL()})
	if err != nil {
		return nil, nil, fmt.Errorf("Prometheus client: %w", err)
	}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, _, _, err := promv1.NewAPI(c).Query(qctx, "gpu_memory_total_mb", time.Now())
	if err != nil {
		return nil, nil, fmt.Errorf("query the exporters' GPUs: %w", err)
	}
	vec, _ := v.(model.Vector)
	var nodes []string
	gpus := map[string][]GPU{}
	for _, s := range vec {
		node := string(s.Metric["node"])
		if node != "" && !slices.Contains(nodes, node) {
			nodes = append(nodes, node)
		}
		idx, err := strconv.Atoi(string(s.Metric["gpu"]))
		if err != nil || string(s.Metric["namespace"]) != p.opts.Namespace || s.Metric["pod"] == "" {
			continue
		}
		pod := string(s.Metric["pod"])
		gpus[pod] = append(gpus[pod], GPU{Node: node, Index: idx, MemoryTotalMB: float64(s.Value)})
	}
	slices.Sort(nodes)
	return nodes, gpus, nil
}

// httpPort is the pod's container port named http (the stand-in's).
func httpPort(pod *corev1.Pod) (int32, bool) {
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == "http" {
				return p.ContainerPort, true
			}
		}
	}
	return 0, false
}
