package sandbox

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/medical-kg/gpu-autoscaling/exporter/podresources/podresourcestest"
	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/loadmodel"
)

// SetDemand sets a service's load; the next load step (within a second)
// writes it to the simulation files and pod annotations.
func (g *GPUPlane) SetDemand(service string, d loadmodel.Demand) {
	g.mu.Lock()
	g.demand[service] = d
	g.mu.Unlock()
}

// Demand returns a service's current demand.
func (g *GPUPlane) Demand(service string) loadmodel.Demand {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.demand[service]
}

// loop keeps the fake kubelets' GPU allocations in step with the pods bound
// to each node and writes the load model's per-GPU values, once a second.
func (g *GPUPlane) loop(ctx context.Context) {
	defer close(g.loopDone)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if err := g.step(ctx); err != nil && ctx.Err() == nil {
			g.sb.opts.Logf("gpu plane: %v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Step runs one allocation and load step now (the loop runs it every second).
func (g *GPUPlane) Step(ctx context.Context) error { return g.step(ctx) }

func (g *GPUPlane) step(ctx context.Context) error {
	pods, err := g.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	live, byService := g.livePods(pods.Items)
	if err := g.allocate(live); err != nil {
		return err
	}
	loads := g.podLoads(byService)
	var errs []error
	for _, n := range g.nodes {
		if err := g.writeSimulationLocked(n, loads); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, g.annotateUsage(ctx, byService, loads)...)
	return errors.Join(errs...)
}

// livePods returns, per fake node, every live container asking for
// nvidia.com/gpu (key pod UID/container), and the Running pods of each
// service in the release namespace.
func (g *GPUPlane) livePods(pods []corev1.Pod) (map[string]map[string]podRef, map[string][]corev1.Pod) {
	live := map[string]map[string]podRef{} // node → key → ref
	byService := map[string][]corev1.Pod{}
	for _, p := range pods {
		n := g.nodes[p.Spec.NodeName]
		if n == nil || p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		svc := p.Labels[contract.ServiceLabel]
		if p.Namespace == g.opts.Namespace && svc != "" && p.Status.Phase == corev1.PodRunning {
			byService[svc] = append(byService[svc], p)
		}
		for _, c := range p.Spec.Containers {
			q, ok := c.Resources.Limits[contract.GPUResource]
			if !ok || q.Value() <= 0 {
				continue
			}
			if live[n.name] == nil {
				live[n.name] = map[string]podRef{}
			}
			live[n.name][string(p.UID)+"/"+c.Name] = podRef{uid: p.UID, namespace: p.Namespace, name: p.Name,
				container: c.Name, service: svc, gpus: int(q.Value())}
		}
	}
	return live, byService
}

// allocate keeps each fake kubelet's device assignments in step with the
// live containers: gone ones free their GPUs, new ones get free GPUs, stable
// for the pod's life.
func (g *GPUPlane) allocate(live map[string]map[string]podRef) error {
	for _, n := range g.nodes {
		changed := false
		for key := range n.alloc {
			if _, ok := live[n.name][key]; !ok {
				for _, idx := range n.alloc[key] {
					delete(n.owner, idx)
				}
				delete(n.alloc, key)
				changed = true
			}
		}
		for _, key := range slices.Sorted(maps.Keys(live[n.name])) {
			if _, ok := n.alloc[key]; ok {
				continue
			}
			ref := live[n.name][key]
			var idxs []int
			for i := 0; i < g.sb.opts.GPUsPerNode && len(idxs) < ref.gpus; i++ {
				if _, used := n.owner[i]; !used {
					idxs = append(idxs, i)
				}
			}
			if len(idxs) < ref.gpus {
				return fmt.Errorf("node %s: no free GPU for %s/%s (the scheduler should have prevented this)", n.name, ref.namespace, ref.name)
			}
			for _, i := range idxs {
				n.owner[i] = ref
			}
			n.alloc[key] = idxs
			changed = true
		}
		if changed && n.server != nil {
			n.server.SetAllocations(n.allocations())
		}
	}
	return nil
}

// podLoads splits each service's demand over its running pods.
func (g *GPUPlane) podLoads(byService map[string][]corev1.Pod) map[types.UID]loadmodel.PodLoad {
	loads := map[types.UID]loadmodel.PodLoad{}
	for svc, d := range g.demand {
		var names []string
		uids := map[string]types.UID{}
		for _, p := range byService[svc] {
			names = append(names, p.Name)
			uids[p.Name] = p.UID
		}
		for name, l := range d.Split(names, 0) {
			loads[uids[name]] = l
		}
	}
	return loads
}

// annotateUsage writes cpu/memory usage for metrics-server through kwok's
// annotations. A service that never had cpu/memory demand keeps kwok's
// defaults. The floor of 1m / 1Mi matters: metrics-server drops containers
// reporting zero cpu, and the HPA treats pods without metrics as fully busy
// when scaling down.
func (g *GPUPlane) annotateUsage(ctx context.Context, byService map[string][]corev1.Pod, loads map[types.UID]loadmodel.PodLoad) []error {
	var errs []error
	for svc, d := range g.demand {
		for _, p := range byService[svc] {
			l := loads[p.UID]
			_, had := g.annotated[p.UID]
			if d.CPUMillicores == 0 && d.MemoryMiB == 0 && !had && !g.resourceDemand[svc] {
				continue
			}
			g.resourceDemand[svc] = true
			want := [2]string{fmt.Sprintf("%dm", max(1, int64(l.CPUMillicores+0.5))), fmt.Sprintf("%dMi", max(1, int64(l.MemoryMiB+0.5)))}
			if g.annotated[p.UID] == want && p.Annotations[UsageCPUAnnotation] == want[0] {
				continue
			}
			patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q,%q:%q}}}`, UsageCPUAnnotation, want[0], UsageMemoryAnnotation, want[1])
			if _, err := g.cs.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
				if !apierrors.IsNotFound(err) {
					errs = append(errs, fmt.Errorf("annotate pod %s: %w", p.Name, err))
				}
				continue
			}
			g.annotated[p.UID] = want
		}
	}
	return errs
}

// allocations lists the node's device assignments for the fake kubelet.
func (n *fakeNode) allocations() []podresourcestest.Allocation {
	var out []podresourcestest.Allocation
	for _, key := range slices.Sorted(maps.Keys(n.alloc)) {
		idxs := n.alloc[key]
		if len(idxs) == 0 {
			continue
		}
		ref := n.owner[idxs[0]]
		a := podresourcestest.Allocation{Namespace: ref.namespace, Pod: ref.name, Container: ref.container, ResourceName: string(contract.GPUResource)}
		for _, i := range idxs {
			a.DeviceIDs = append(a.DeviceIDs, GPUUUID(n.name, i))
		}
		out = append(out, a)
	}
	return out
}

type simGPU struct {
	Index              int     `json:"index"`
	UUID               string  `json:"uuid"`
	UtilizationPercent float64 `json:"utilizationPercent"`
	MemoryUsedMB       uint64  `json:"memoryUsedMB"`
	TemperatureCelsius float64 `json:"temperatureCelsius"`
}

func (g *GPUPlane) writeSimulation(n *fakeNode, force bool) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if force {
		n.lastSim = ""
	}
	return g.writeSimulationLocked(n, nil)
}

// writeSimulationLocked writes the node's simulation file: every GPU with
// its UUID; allocated GPUs carry their pod's share of the load.
func (g *GPUPlane) writeSimulationLocked(n *fakeNode, loads map[types.UID]loadmodel.PodLoad) error {
	memTotal := g.memTotal
	if memTotal == 0 {
		memTotal = modelMemoryMB(g.model)
	}
	var gpus []simGPU
	for i := 0; i < g.sb.opts.GPUsPerNode; i++ {
		gpu := simGPU{Index: i, UUID: GPUUUID(n.name, i), TemperatureCelsius: 32}
		if ref, ok := n.owner[i]; ok {
			if l, ok := loads[ref.uid]; ok {
				gpu.UtilizationPercent = l.GPUUtilization
				mem := l.GPUMemoryMB / float64(max(1, ref.gpus))
				gpu.MemoryUsedMB = uint64(min(mem, memTotal))
				gpu.TemperatureCelsius = 35 + 0.45*l.GPUUtilization
			}
		}
		gpus = append(gpus, gpu)
	}
	data, err := yaml.Marshal(map[string]any{"gpus": gpus})
	if err != nil {
		return fmt.Errorf("encode simulation file: %w", err)
	}
	if string(data) == n.lastSim {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(n.simFile), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(n.simFile), err)
	}
	tmp := n.simFile + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write simulation file: %w", err)
	}
	if err := os.Rename(tmp, n.simFile); err != nil {
		return fmt.Errorf("write simulation file: %w", err)
	}
	n.lastSim = string(data)
	return nil
}
