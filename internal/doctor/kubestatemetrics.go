package doctor

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

const (
	idKubeStateMetrics = "kube-state-metrics"
	// metricHPACurrentReplicas is kube-state-metrics' series the replica
	// panels, the HPAAtMaxReplicas alert and the flapping check read.
	metricHPACurrentReplicas = "kube_horizontalpodautoscaler_status_current_replicas"
)

// checkKubeStateMetrics checks that Prometheus has kube-state-metrics'
// series for every HPA of the namespace. Scaling works without them; the
// dashboards' replica and scaling-event panels, their $namespace variable
// and the HPAAtMaxReplicas alert do not, so a gap is a warning.
func (r *runner) checkKubeStateMetrics(ctx context.Context) error {
	hpas, err := r.hpas(ctx)
	if err != nil {
		return err
	}
	if len(hpas) == 0 || r.skippedWithoutPrometheus(idKubeStateMetrics, metricHPACurrentReplicas, "kube-state-metrics' series") {
		return nil
	}
	v, ok := r.query(ctx, fmt.Sprintf(`%s{namespace=%q}`, metricHPACurrentReplicas, r.cfg.Namespace))
	if !ok {
		return nil
	}
	have := map[string]bool{}
	for _, s := range v {
		have[string(s.Metric["horizontalpodautoscaler"])] = true
	}
	var missing []string
	for _, h := range hpas {
		if !have[h.Name] {
			missing = append(missing, h.Name)
		}
	}
	sort.Strings(missing)
	const fix = "install kube-state-metrics (kube-prometheus-stack ships it) with horizontalpodautoscalers and deployments " +
		"among its --resources, and let this Prometheus scrape it with honor_labels (its namespace label is the HPA's); " +
		"the replica and scaling-event panels, the dashboards' $namespace variable and the HPAAtMaxReplicas alert read it"
	switch {
	case len(missing) == len(hpas):
		r.warn(idKubeStateMetrics, metricHPACurrentReplicas,
			fmt.Sprintf("no series in namespace %s: Prometheus has no kube-state-metrics data for this release's HPAs", r.cfg.Namespace), fix)
	case len(missing) > 0:
		r.warn(idKubeStateMetrics, metricHPACurrentReplicas,
			fmt.Sprintf("no series for %s (of %d HPAs in %s)", strings.Join(missing, ", "), len(hpas), r.cfg.Namespace), fix)
	default:
		r.pass(idKubeStateMetrics, metricHPACurrentReplicas, fmt.Sprintf("series for all %d HPAs in %s", len(hpas), r.cfg.Namespace))
	}
	return nil
}
