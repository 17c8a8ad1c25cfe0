package doctor

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/common/model"
)

const (
	idPrometheus        = "prometheus-query"
	idAdapterPrometheus = "adapter-prometheus"
	idExporterCoverage  = "exporter-on-gpu-nodes"
	idExporterTargets   = "exporter-targets-up"
	idPodLabels         = "gpu-series-pod-labels"
	idNVML              = "exporter-gpu-backend-up"

	// Metric names of the exporter (the seed's names are the contract).
	metricGPUUtilization = "gpu_utilization_percent"
	metricGPUMemoryTotal = "gpu_memory_total_mb"
	metricExporterUp     = "gpu_exporter_up"
)

// query runs an instant query; the first failure is reported once as a FAIL
// and later Prometheus checks are skipped.
func (r *runner) query(ctx context.Context, q string) (model.Vector, bool) {
	if r.cfg.Prometheus == nil || r.promBroken {
		return nil, false
	}
	qctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	v, _, _, err := r.cfg.Prometheus.Query(qctx, q, r.cfg.Now())
	if err != nil {
		r.promBroken = true
		r.fail(idPrometheus, prometheusName(r.cfg), fmt.Sprintf("query %q failed: %v", q, err),
			"pass a --prometheus-url this machine can reach (e.g. kubectl -n monitoring port-forward svc/prometheus 9090 and --prometheus-url http://127.0.0.1:9090)")
		return nil, false
	}
	vec, ok := v.(model.Vector)
	if !ok {
		r.promBroken = true
		r.fail(idPrometheus, prometheusName(r.cfg), fmt.Sprintf("query %q returned %s, not a vector", q, v.Type()), "check --prometheus-url points at a Prometheus query API")
		return nil, false
	}
	return vec, true
}

func prometheusName(cfg Config) string {
	if cfg.PrometheusURL != "" {
		return cfg.PrometheusURL
	}
	return "prometheus"
}

func (r *runner) skippedWithoutPrometheus(id, subject, what string) bool {
	if r.cfg.Prometheus != nil && !r.promBroken {
		return false
	}
	if r.promBroken {
		r.warn(id, subject, what+" not checked: Prometheus could not be queried", "fix the prometheus-query check first")
		return true
	}
	r.warn(id, subject, what+" not checked without Prometheus", "pass --prometheus-url (the Prometheus the adapter reads) to check it")
	return true
}

// replicaChangesFromPrometheus reads kube-state-metrics' replica series, when present.
func (r *runner) replicaChangesFromPrometheus(ctx context.Context) (map[string]int, bool) {
	if r.cfg.Prometheus == nil || r.promBroken {
		return nil, false
	}
	v, ok := r.query(ctx, fmt.Sprintf(`changes(kube_horizontalpodautoscaler_status_current_replicas{namespace=%q}[1h])`, r.cfg.Namespace))
	if !ok || len(v) == 0 {
		return nil, false
	}
	out := map[string]int{}
	for _, s := range v {
		out[string(s.Metric["horizontalpodautoscaler"])] = int(s.Value)
	}
	return out, true
}
