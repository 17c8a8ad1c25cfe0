package chart_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The overview dashboard maps pods to services through kube-state-metrics' owner series and the HPAs'
// scaleTargetRef (the chart's gpu_autoscaling:*_service:info recording rules), not through pod names.
// The fixture has what name matching gets wrong: a StatefulSet target, a target named differently from
// its service key, a Deployment whose name starts like a service's (embedding-service-canary), a
// Deployment named like a StatefulSet target (docling-vlm), a service whose HPA is disabled, and the pods
// of an old ReplicaSet during a rollout. Each excluded pod carries large values, so counting it would
// change a sum.
func TestDashboardsMapPodsToServicesThroughOwners(t *testing.T) {
	t.Parallel()
	values := `services:
  docling-vlm-service:
    scaleTargetRef: {kind: StatefulSet, name: docling-vlm}
  ocr-service:
    scaleTargetRef: {name: ocr}
    targets: {cpuUtilization: 60}
  reranking-service:
    enabled: false
prometheusRule:
  configMap: true
`
	rec, _, objects := renderRules(t, renderRequest{values: values})
	p := newMemPrometheus()
	f := newKSMFixture(p)
	for _, h := range typedOf[*hpaV2](objects) {
		f.hpa(h)
	}
	type pod struct {
		name, kind, rs, owner string
		gpu                   float64 // GPU utilization; also its requests per second
	}
	pods := []pod{
		{"embedding-service-7d9f8b6c5d-x2k4p", "ReplicaSet", "embedding-service-7d9f8b6c5d", "embedding-service", 20},
		{"embedding-service-7d9f8b6c5d-q8m3z", "ReplicaSet", "embedding-service-7d9f8b6c5d", "embedding-service", 60},
		{"embedding-service-6c9b8a7d5f-w2n7v", "ReplicaSet", "embedding-service-6c9b8a7d5f", "embedding-service", 40}, // old ReplicaSet
		{"embedding-service-canary-5b6c7d8f9-k2j4h", "ReplicaSet", "embedding-service-canary-5b6c7d8f9", "embedding-service-canary", 1000},
		{"docling-vlm-0", "StatefulSet", "", "docling-vlm", 50},
		{"docling-vlm-1", "StatefulSet", "", "docling-vlm", 70},
		{"docling-vlm-6f7d8c9b5-t5r4e", "ReplicaSet", "docling-vlm-6f7d8c9b5", "docling-vlm", 1000}, // a Deployment docling-vlm
		{"ocr-5f6d7c8b9-q8m3z", "ReplicaSet", "ocr-5f6d7c8b9", "ocr", 30},
		{"gpu-management-service-77575b66-abcde", "ReplicaSet", "gpu-management-service-77575b66", "gpu-management-service", 10},
		{"reranking-service-5c8d7f9b4-h7t2w", "ReplicaSet", "reranking-service-5c8d7f9b4", "reranking-service", 1000}, // HPA disabled
	}
	for _, pd := range pods {
		if pd.kind == "StatefulSet" {
			f.owner(pd.name, "StatefulSet", pd.owner)
		} else {
			f.owner(pd.name, "ReplicaSet", pd.rs)
			f.replicaSet(pd.rs, pd.owner)
		}
		f.podSeries(pd.name, pd.gpu)
	}
	f.replicas("deployment", "embedding-service", 3)
	f.replicas("deployment", "embedding-service-canary", 100)
	f.replicas("deployment", "docling-vlm", 100)
	f.replicas("statefulset", "docling-vlm", 2)
	f.replicas("deployment", "ocr", 1)
	f.replicas("deployment", "gpu-management-service", 1)
	f.replicas("deployment", "reranking-service", 100)

	for _, r := range rec {
		p.record(t, r.Record, r.Expr, evalTime)
	}
	services := []string{"docling-vlm-service", "embedding-service", "gpu-management-service", "ocr-service"}
	// Per service: GPU utilization (mean over its pods), requests per second (sum), replicas.
	want := map[string][3]float64{
		"embedding-service":      {40, 120, 3},
		"docling-vlm-service":    {60, 120, 2},
		"ocr-service":            {30, 30, 1},
		"gpu-management-service": {10, 10, 1},
	}
	board := loadDashboard(t, "overview", dashboards(t, objects)["gpu-autoscaling-overview.json"])
	vars := strings.NewReplacer("$__rate_interval", "2m", "$namespace", namespace, "$service", strings.Join(services, "|"))
	checked := 0
	for _, panel := range board.Panels {
		for i, target := range panel.Targets {
			if !strings.Contains(target, "_service:info") {
				continue
			}
			checked++
			got := map[string]float64{}
			for _, s := range p.query(t, vars.Replace(target), evalTime) {
				svc := s.Metric.Get("service")
				_, dup := got[svc]
				require.False(t, dup, "%q target %d: service %q twice", panel.Title, i, svc)
				got[svc] = s.F
			}
			assert.ElementsMatch(t, services, keys(got), "%q target %d: one series per HPA'd service, nothing else", panel.Title, i)
			column := -1
			switch {
			case strings.HasPrefix(target, "avg by (service) (gpu_utilization_percent"):
				column = 0
			case strings.HasPrefix(target, "sum by (service) (rate(service_requests_total"):
				column = 1
			case strings.Contains(target, "kube_deployment_status_replicas"):
				column = 2
			}
			if column < 0 {
				continue
			}
			for svc, w := range want {
				assert.InDelta(t, w[column], got[svc], 1e-9, "%q target %d: %s", panel.Title, i, svc)
			}
		}
	}
	assert.GreaterOrEqual(t, checked, 9, "overview targets that join on the service mapping")
}

// ksmFixture writes kube-state-metrics-, cAdvisor- and service-shaped series for the five minutes up to
// evalTime, one sample every 30 s, in the namespace the chart is rendered in.
type ksmFixture struct{ p *memPrometheus }

func newKSMFixture(p *memPrometheus) ksmFixture { return ksmFixture{p} }

// gauge adds a constant series; counter one that grows by perSecond.
func (f ksmFixture) gauge(v float64, kv ...string) {
	f.series(func(time.Duration) float64 { return v }, kv...)
}

func (f ksmFixture) counter(perSecond float64, kv ...string) {
	f.series(func(elapsed time.Duration) float64 { return perSecond * elapsed.Seconds() }, kv...)
}

func (f ksmFixture) series(value func(elapsed time.Duration) float64, kv ...string) {
	start := evalTime.Add(-5 * time.Minute)
	lset := labels.FromStrings(append([]string{"namespace", namespace}, kv...)...)
	for ts := start; !ts.After(evalTime); ts = ts.Add(scrapeIv) {
		f.p.add(lset, ts, value(ts.Sub(start)))
	}
}

// hpa is kube_horizontalpodautoscaler_info of a rendered HPA.
func (f ksmFixture) hpa(h *hpaV2) {
	ref := h.Spec.ScaleTargetRef
	f.gauge(1, labels.MetricName, "kube_horizontalpodautoscaler_info", "horizontalpodautoscaler", h.Name,
		"scaletargetref_api_version", ref.APIVersion, "scaletargetref_kind", ref.Kind, "scaletargetref_name", ref.Name)
}

func (f ksmFixture) owner(pod, kind, name string) {
	f.gauge(1, labels.MetricName, "kube_pod_owner", "pod", pod, "uid", "uid-"+pod,
		"owner_kind", kind, "owner_name", name, "owner_is_controller", "true")
}

func (f ksmFixture) replicaSet(rs, deployment string) {
	f.gauge(1, labels.MetricName, "kube_replicaset_owner", "replicaset", rs,
		"owner_kind", "Deployment", "owner_name", deployment, "owner_is_controller", "true")
}

// replicas is kube_<kind>_status_replicas, kind deployment or statefulset.
func (f ksmFixture) replicas(kind, name string, n float64) {
	f.gauge(n, labels.MetricName, "kube_"+kind+"_status_replicas", kind, name)
}

// podSeries gives a pod one GPU at v percent, v requests per second, and container CPU and memory.
func (f ksmFixture) podSeries(pod string, v float64) {
	gpu := []string{"pod", pod, "container", "server", "gpu", "0", "uuid", "GPU-" + pod, "node", "gpu-node-0"}
	f.gauge(v, append([]string{labels.MetricName, "gpu_utilization_percent"}, gpu...)...)
	f.gauge(100*v, append([]string{labels.MetricName, "gpu_memory_usage_mb"}, gpu...)...)
	f.gauge(40960, append([]string{labels.MetricName, "gpu_memory_total_mb"}, gpu...)...)
	svc := []string{"pod", pod, "service", "the-kubernetes-service", "code", "200"}
	f.counter(v, append([]string{labels.MetricName, "service_requests_total"}, svc...)...)
	f.counter(v*0.02, append([]string{labels.MetricName, "service_response_time_seconds_sum"}, svc[:4]...)...)
	f.counter(v, append([]string{labels.MetricName, "service_response_time_seconds_count"}, svc[:4]...)...)
	for _, le := range []string{"0.01", "0.05", "+Inf"} {
		f.counter(v, append([]string{labels.MetricName, "service_response_time_seconds_bucket", "le", le}, svc[:4]...)...)
	}
	f.counter(v/100, labels.MetricName, "container_cpu_usage_seconds_total", "pod", pod, "container", "server")
	f.gauge(v*1e6, labels.MetricName, "container_memory_working_set_bytes", "pod", pod, "container", "server")
}
