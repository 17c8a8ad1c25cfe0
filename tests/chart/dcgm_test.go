package chart_test

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	pql "github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

// DCGM mode is tested against Prometheus' own PromQL engine fed with dcgm-exporter-shaped scrapes:
// testdata/dcgm/*.prom are two dcgm-exporter outputs written by hand in its exposition format (HELP/TYPE
// gauges; labels gpu, UUID, pci_bus_id, device, modelName, Hostname, DCGM_FI_DRIVER_VERSION, container,
// namespace, pod; FB_* in MiB). The chart's rendered recording rules are evaluated over them, then the
// adapter's queries, the alerts and the dashboards over what they recorded.

const dcgmJob = "nvidia-dcgm-exporter"

// dcgmTargets are the two dcgm-exporter pods, one per node, as the GPU Operator's ServiceMonitor
// labels them (namespace/pod/container are the exporter pod's own).
var dcgmTargets = map[string]map[string]string{
	"gpu-node-a.prom": {"job": dcgmJob, "instance": "10.0.1.11:9400", "namespace": "gpu-operator",
		"pod": "nvidia-dcgm-exporter-7xk2p", "container": "nvidia-dcgm-exporter", "service": "nvidia-dcgm-exporter", "endpoint": "gpu-metrics"},
	"gpu-node-b.prom": {"job": dcgmJob, "instance": "10.0.1.12:9400", "namespace": "gpu-operator",
		"pod": "nvidia-dcgm-exporter-m4q9d", "container": "nvidia-dcgm-exporter", "service": "nvidia-dcgm-exporter", "endpoint": "gpu-metrics"},
}

const (
	podA     = "embedding-service-7d9f8b6c5d-x2k4p"
	podB     = "embedding-service-7d9f8b6c5d-q8m3z"
	podR     = "reranking-service-5c8d7f9b4-h7t2w"
	uuidA0   = "GPU-5d1c9a3e-0b7a-4c11-9a57-2f1e6c0d8a01"
	uuidA1   = "GPU-9b3f6e21-44c8-4d0e-8f6a-71c2d5e9b302"
	uuidB1   = "GPU-e4a91b7c-2f60-4d8a-b5c3-8a0d6f1e9c27"
	scrapeIv = 30 * time.Second
)

var evalTime = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// recordingRule is a rendered recording rule.
type recordingRule struct {
	Record string `json:"record"`
	Expr   string `json:"expr"`
}

// renderRules renders the chart with the values and returns its recording rules (DCGM mode and the pod -> service
// mapping), its alerting rules and the rendered objects.
func renderRules(t *testing.T, req renderRequest) ([]recordingRule, []ruleSpec, []object) {
	t.Helper()
	objects := decodeAll(t, render(t, req))
	var rec []recordingRule
	var alerts []ruleSpec
	for _, r := range alertRulesOf(t, objects) {
		if r.Record != "" {
			rec = append(rec, recordingRule{Record: r.Record, Expr: r.Expr})
		} else {
			alerts = append(alerts, r)
		}
	}
	return rec, alerts, objects
}

// loadDCGM scrapes both fixtures every 30 s for 5 minutes up to evalTime, plus the targets' `up`.
func loadDCGM(t *testing.T, honorLabels bool, adjust func(name string, ts time.Time, v float64) float64) *memPrometheus {
	t.Helper()
	p := newMemPrometheus()
	for ts := evalTime.Add(-5 * time.Minute); !ts.After(evalTime); ts = ts.Add(scrapeIv) {
		for file, target := range dcgmTargets {
			at := ts
			var adj func(string, float64) float64
			if adjust != nil {
				adj = func(name string, v float64) float64 { return adjust(name, at, v) }
			}
			p.scrape(t, filepath.Join("testdata", "dcgm", file), target, honorLabels, ts, adj)
			p.add(labels.FromStrings(labels.MetricName, "up", "job", target["job"], "instance", target["instance"],
				"namespace", target["namespace"], "pod", target["pod"], "service", target["service"]), ts, 1)
		}
	}
	return p
}

// byUUID indexes a vector by its uuid label (each GPU once).
func byUUID(t *testing.T, vec pql.Vector) map[string]pql.Sample {
	t.Helper()
	out := map[string]pql.Sample{}
	for _, s := range vec {
		u := s.Metric.Get("uuid")
		require.NotEmpty(t, u, "recorded series without uuid: %s", s.Metric)
		_, dup := out[u]
		require.False(t, dup, "GPU %s recorded twice", u)
		out[u] = s
	}
	return out
}

func TestDCGMRecordingRulesServeTheContract(t *testing.T) {
	t.Parallel()
	rec, _, _ := renderRules(t, renderRequest{valuesFiles: []string{"values/dcgm.yaml"}, values: "dcgm:\n  utilizationWindow: \"\"\n", extraArgs: monitoringAPIs})
	names := map[string]bool{}
	for _, r := range rec {
		names[r.Record] = true
	}
	for _, want := range []string{"gpu_utilization_percent", "gpu_memory_usage_mb", "gpu_memory_total_mb", "gpu_temperature_celsius", "gpu_exporter_up"} {
		require.True(t, names[want], "no recording rule for %s (have %v)", want, keys(names))
	}

	// The GPU Operator's ServiceMonitor leaves honor_labels off (exported_pod); a scrape job with it on
	// keeps dcgm-exporter's pod labels. Both must yield the same contract series.
	for _, honor := range []bool{true, false} {
		t.Run(fmt.Sprintf("honor_labels=%v", honor), func(t *testing.T) {
			t.Parallel()
			p := loadDCGM(t, honor, nil)
			got := map[string]map[string]pql.Sample{}
			for _, r := range rec {
				vec := p.record(t, r.Record, r.Expr, evalTime)
				if r.Record != "gpu_exporter_up" { // per target, not per GPU: checked below
					got[r.Record] = byUUID(t, vec)
				}
			}

			util := got["gpu_utilization_percent"]
			require.Len(t, util, 4, "one series per GPU")
			assert.Equal(t, 20.0, util[uuidA0].F)
			a0 := util[uuidA0].Metric
			for k, v := range map[string]string{"node": "gpu-node-a", "gpu": "0", "model": "NVIDIA A100-SXM4-40GB",
				"namespace": namespace, "pod": podA, "container": "embedding", "job": dcgmJob} {
				assert.Equal(t, v, a0.Get(k), "label %s of %s", k, a0)
			}
			for _, s := range util {
				for _, l := range []string{"exported_namespace", "exported_pod", "exported_container"} {
					assert.False(t, s.Metric.Has(l), "%s kept on %s", l, s.Metric)
				}
			}
			if honor {
				assert.False(t, util[uuidA1].Metric.Has("pod"), "a free GPU (dcgm-exporter's empty pod label) stays unattributed: %s", util[uuidA1].Metric)
			} else {
				assert.Equal(t, "nvidia-dcgm-exporter-7xk2p", util[uuidA1].Metric.Get("pod"), "without honor_labels a free GPU carries the exporter pod's own labels")
			}

			// FB_USED is MiB and so is the contract's "MB": no scaling. Total = used + free (+ reserved).
			mem := got["gpu_memory_usage_mb"]
			assert.Equal(t, 12105.0, mem[uuidA0].F)
			assert.Equal(t, 80903.0, mem[uuidB1].F)
			total := got["gpu_memory_total_mb"]
			assert.Equal(t, 40960.0, total[uuidA0].F, "A100 40GB with FB_RESERVED (dcgm-exporter 3.3)")
			assert.Equal(t, 40960.0, total[uuidA1].F)
			assert.Equal(t, 81920.0, total[uuidB1].F, "A100 80GB without FB_RESERVED (dcgm-exporter 3.1)")
			assert.Equal(t, 90.0, got["gpu_temperature_celsius"][uuidB1].F)

			up := p.query(t, `gpu_exporter_up`, evalTime)
			require.Len(t, up, 2)
			for _, s := range up {
				assert.Equal(t, "dcgm", s.Metric.Get("backend"))
				assert.Equal(t, 1.0, s.F)
			}
		})
	}
}

// The seed's HPAs read the adapter's per-pod values: its rendered queries, run over the recorded series,
// must give each embedding-service pod its own GPU's numbers.
func TestDCGMAdapterServesPodsUnchanged(t *testing.T) {
	t.Parallel()
	rec, _, objects := renderRules(t, renderRequest{valuesFiles: []string{"values/dcgm.yaml"}, values: "dcgm:\n  utilizationWindow: \"\"\n", extraArgs: monitoringAPIs})
	p := loadDCGM(t, false, nil)
	for _, r := range rec {
		p.record(t, r.Record, r.Expr, evalTime)
	}
	rules, ok := adapterRules(t, objects)
	require.True(t, ok)
	want := map[string]map[string]float64{
		"gpu_utilization_percent": {podA: 20, podB: 60},
		"gpu_memory_usage_mb":     {podA: 12105, podB: 32768},
		"gpu_memory_total_mb":     {podA: 40960, podB: 81920},
		"gpu_temperature_celsius": {podA: 61, podB: 66},
	}
	served := map[string]bool{}
	for _, r := range rules {
		series := seriesOf(t, r)
		name := servedName(t, r, series)
		exp, ok := want[name]
		if !ok {
			continue
		}
		served[name] = true
		// The adapter first discovers the series with seriesQuery, then runs metricsQuery per request.
		assert.NotEmpty(t, p.query(t, r.SeriesQuery, evalTime), "seriesQuery %s finds nothing", r.SeriesQuery)
		got := map[string]float64{}
		for _, s := range p.query(t, expandAdapterQuery(r.MetricsQuery, series), evalTime) {
			got[s.Metric.Get("pod")] = s.F
		}
		assert.Equal(t, exp, got, "%s per embedding-service pod", name)
	}
	assert.Len(t, served, len(want), "adapter rules for %v", keys(want))

	// And every Pods metric of the rendered HPAs is among them.
	for _, h := range typedOf[*hpaV2](objects) {
		for _, m := range h.Spec.Metrics {
			if m.Type == autoscalingv2.PodsMetricSourceType {
				assert.True(t, served[m.Pods.Metric.Name], "%s: Pods metric %s not served from DCGM", h.Name, m.Pods.Metric.Name)
			}
		}
	}
}

// dcgm.utilizationWindow averages DCGM_FI_DEV_GPU_UTIL over the window before it is served.
func TestDCGMUtilizationWindowAverages(t *testing.T) {
	t.Parallel()
	rec, _, _ := renderRules(t, renderRequest{valuesFiles: []string{"values/dcgm.yaml"}, values: "dcgm:\n  utilizationWindow: 1m\n", extraArgs: monitoringAPIs})
	// The last scrape reports 30 points more; a 1m window (left-open in Prometheus 3) holds the scrapes
	// at -30 s and 0 s, so their mean is the old value + 15.
	p := loadDCGM(t, true, func(name string, ts time.Time, v float64) float64 {
		if name == "DCGM_FI_DEV_GPU_UTIL" && ts.Equal(evalTime) {
			return v + 30
		}
		return v
	})
	for _, r := range rec {
		if r.Record == "gpu_utilization_percent" {
			assert.Contains(t, r.Expr, "avg_over_time(DCGM_FI_DEV_GPU_UTIL{job=~\"nvidia-dcgm-exporter\"}[1m])")
			util := byUUID(t, p.record(t, r.Record, r.Expr, evalTime))
			assert.Equal(t, 35.0, util[uuidA0].F)
			return
		}
	}
	t.Fatal("no gpu_utilization_percent recording rule")
}

// gpuSeries matches the GPU series of the contract (not the chart's gpu_autoscaling:* recordings).
var gpuSeries = regexp.MustCompile(`\bgpu_(utilization|memory|temperature|exporter)_`)

// The alerts and the dashboards read the same contract series in DCGM mode.
func TestDCGMAlertsAndDashboardsWork(t *testing.T) {
	t.Parallel()
	rec, alerts, objects := renderRules(t, renderRequest{valuesFiles: []string{"values/dcgm.yaml"}, extraArgs: monitoringAPIs})
	p := loadDCGM(t, false, nil)
	// kube-state-metrics' view of the fixture's pods, which the dashboards map to services through.
	ksm := newKSMFixture(p)
	for _, h := range typedOf[*hpaV2](objects) {
		ksm.hpa(h)
	}
	for pod, rs := range map[string]string{podA: "embedding-service-7d9f8b6c5d", podB: "embedding-service-7d9f8b6c5d", podR: "reranking-service-5c8d7f9b4"} {
		ksm.owner(pod, "ReplicaSet", rs)
		ksm.replicaSet(rs, strings.SplitN(pod, "-", 3)[0]+"-service")
	}
	for _, r := range rec {
		p.record(t, r.Record, r.Expr, evalTime)
	}
	firing := map[string][]string{}
	for _, a := range alerts {
		for _, s := range p.query(t, a.Expr, evalTime) {
			firing[a.Alert] = append(firing[a.Alert], s.Metric.String())
		}
	}
	require.Len(t, firing["GPUTemperatureHigh"], 1, "the 90 °C GPU: %v", firing)
	assert.Contains(t, firing["GPUTemperatureHigh"][0], uuidB1)
	assert.Empty(t, firing["GPUMetricsExporterDown"], "both dcgm-exporter targets are up")
	assert.Empty(t, firing["GPUMetricsMissingPodLabels"], "exported_pod is mapped back to pod")

	vars := strings.NewReplacer("$__rate_interval", "5m", "$node", ".+", "$namespace", namespace, "$service", "embedding-service|reranking-service")
	gpuPanels := 0
	for name, board := range dashboards(t, objects) {
		for where, expr := range dashboardQueries(t, name, board) {
			if !gpuSeries.MatchString(expr) && !strings.HasPrefix(expr, "up{") {
				continue
			}
			q := vars.Replace(expr)
			got := p.query(t, q, evalTime)
			if strings.Contains(expr, `pod=""`) {
				// The panel shows 0 per node rather than nothing.
				for _, s := range got {
					assert.Zero(t, s.F, "%s: no busy unattributed GPU in the fixture: %s", where, s.Metric)
				}
				continue
			}
			assert.NotEmpty(t, got, "%s: no data in DCGM mode: %s", where, q)
			gpuPanels++
		}
	}
	assert.GreaterOrEqual(t, gpuPanels, 8, "GPU panel queries checked")
	overview := loadDashboard(t, "overview", dashboards(t, objects)["gpu-autoscaling-overview.json"])
	require.Equal(t, "GPU utilization by service", overview.Panels[0].Title)
	util := p.query(t, strings.NewReplacer("$namespace", namespace, "$service", "embedding-service").Replace(overview.Panels[0].Targets[0]), evalTime)
	require.Len(t, util, 1)
	assert.Equal(t, 40.0, util[0].F, "the overview's per-service utilization: mean of 20 and 60")
}
