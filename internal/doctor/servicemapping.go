package doctor

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
)

const idServiceMapping = "dashboard-service-mapping"

// checkServiceMapping checks that the chart's recording rules map each of
// its HPAs to the target workload and that workload's pods: the overview
// dashboard's per-service panels join on them. Scaling works without them,
// so a gap is a warning that says which part is missing: the rules (none of
// the HPAs is recorded) or kube-state-metrics' pod and ReplicaSet owners (an
// HPA is recorded, its pods are not).
func (r *runner) checkServiceMapping(ctx context.Context) error {
	hpas, err := r.hpas(ctx)
	if err != nil {
		return err
	}
	services := map[string]string{} // HPA -> service key, the chart's HPAs only
	for _, h := range hpas {
		if svc := h.Labels[contract.HPAServiceLabel]; svc != "" {
			services[h.Name] = svc
		}
	}
	if len(services) == 0 || r.skippedWithoutPrometheus(idServiceMapping, contract.PodServiceRecording, "the dashboards' pod -> service mapping") {
		return nil
	}
	workloads, ok := r.query(ctx, fmt.Sprintf(`%s{namespace=%q}`, contract.WorkloadServiceRecording, r.cfg.Namespace))
	if !ok {
		return nil
	}
	pods, ok := r.query(ctx, fmt.Sprintf(`%s{namespace=%q}`, contract.PodServiceRecording, r.cfg.Namespace))
	if !ok {
		return nil
	}
	recorded := map[string]bool{}
	for _, s := range workloads {
		recorded[string(s.Metric["horizontalpodautoscaler"])] = true
	}
	podsOf := map[string]int{}
	for _, s := range pods {
		podsOf[string(s.Metric["service"])]++
	}
	var unrecorded, podless []string
	mapped := 0
	for hpa, svc := range services {
		switch {
		case !recorded[hpa]:
			unrecorded = append(unrecorded, hpa)
		case podsOf[svc] == 0:
			podless = append(podless, hpa)
		default:
			mapped += podsOf[svc]
		}
	}
	sort.Strings(unrecorded)
	sort.Strings(podless)
	switch {
	case len(unrecorded) == len(services):
		r.warn(idServiceMapping, contract.WorkloadServiceRecording,
			fmt.Sprintf("no series in namespace %s: the chart's recording rules are not loaded (or kube-state-metrics has no HPAs)", r.cfg.Namespace),
			"set prometheusRule.enabled=true (prometheus-operator selects it by prometheusRule.labels) or prometheusRule.configMap=true "+
				"and load that file into Prometheus' rule_files; without them the overview's per-service panels are empty")
	case len(unrecorded) > 0:
		r.warn(idServiceMapping, contract.WorkloadServiceRecording,
			fmt.Sprintf("no series for %s (of %d HPAs): rules from an older release, or kube-state-metrics lacks them", strings.Join(unrecorded, ", "), len(services)),
			"upgrade the release so its rules name every HPA, and check kube_horizontalpodautoscaler_info for them")
	case len(podless) > 0:
		r.warn(idServiceMapping, contract.PodServiceRecording,
			fmt.Sprintf("no pods mapped for %s: kube-state-metrics' owner series do not reach the target's pods", strings.Join(podless, ", ")),
			"let kube-state-metrics expose pods, replicasets, deployments and statefulsets (--resources); only Deployment and "+
				"StatefulSet targets are mapped, and a target with 0 replicas has no pods to map")
	default:
		r.pass(idServiceMapping, contract.PodServiceRecording, fmt.Sprintf("%d pods mapped to the %d HPAs' services in %s", mapped, len(services), r.cfg.Namespace))
	}
	return nil
}
