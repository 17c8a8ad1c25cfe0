package chart_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	grafana "github.com/medical-kg/gpu-autoscaling/internal/dashboards"
)

// contractMetrics are the series the project's exporter exposes (metric contract, DESIGN §3).
var contractMetrics = map[string]bool{
	"gpu_utilization_percent": true,
	"gpu_memory_usage_mb":     true,
	"gpu_memory_total_mb":     true,
	"gpu_temperature_celsius": true,
	"cpu_usage_percent":       true,
	"memory_usage_mb":         true,
	"gpu_exporter_up":         true, // exporter self-metric: GPU backend up, label backend
}

// externalMetrics are series other components expose, declared one by one so a typo cannot hide.
var externalMetrics = map[string]string{
	"kube_deployment_status_replicas":  "kube-state-metrics",
	"kube_statefulset_status_replicas": "kube-state-metrics",
	"kube_pod_owner":                   "kube-state-metrics",
	"kube_replicaset_owner":            "kube-state-metrics",
	// Recorded by the chart's own rules (_workloads.tpl) from the kube-state-metrics series above.
	"gpu_autoscaling:workload_service:info":                "the chart's recording rules",
	"gpu_autoscaling:pod_service:info":                     "the chart's recording rules",
	"kube_horizontalpodautoscaler_info":                    "kube-state-metrics",
	"kube_horizontalpodautoscaler_status_current_replicas": "kube-state-metrics",
	"kube_horizontalpodautoscaler_status_desired_replicas": "kube-state-metrics",
	"kube_horizontalpodautoscaler_spec_max_replicas":       "kube-state-metrics",
	"container_cpu_usage_seconds_total":                    "cAdvisor (kubelet)",
	"container_memory_working_set_bytes":                   "cAdvisor (kubelet)",
	"service_requests_total":                               "the GPU services",
	"service_response_time_seconds_bucket":                 "the GPU services (histogram)",
	"service_response_time_seconds_sum":                    "the GPU services (histogram)",
	"service_response_time_seconds_count":                  "the GPU services (histogram)",
	"aggregator_unavailable_apiservice":                    "kube-apiserver",
	"up":                                                   "Prometheus",
	"ALERTS":                                               "Prometheus",
	// DCGM mode (metricsSource: dcgm): recording rules read these and record the contract names.
	"DCGM_FI_DEV_GPU_UTIL":    "dcgm-exporter",
	"DCGM_FI_DEV_FB_USED":     "dcgm-exporter",
	"DCGM_FI_DEV_FB_FREE":     "dcgm-exporter",
	"DCGM_FI_DEV_FB_RESERVED": "dcgm-exporter",
	"DCGM_FI_DEV_GPU_TEMP":    "dcgm-exporter",
}

func knownMetric(name string) bool {
	_, external := externalMetrics[name]
	return contractMetrics[name] || external
}

var promql = parser.NewParser(parser.Options{})

// metricNames parses a PromQL expression and returns the metric names its selectors use.
func metricNames(t *testing.T, where, expr string) []string {
	t.Helper()
	parsed, err := promql.ParseExpr(expr)
	require.NoError(t, err, "%s: PromQL does not parse: %s", where, expr)
	var names []string
	for _, matchers := range parser.ExtractSelectors(parsed) {
		found := false
		for _, m := range matchers {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				names = append(names, m.Value)
				found = true
			}
		}
		assert.True(t, found, "%s: a selector without a metric name: %s", where, expr)
	}
	return names
}

func assertKnownMetrics(t *testing.T, where, expr string) {
	t.Helper()
	for _, n := range metricNames(t, where, expr) {
		assert.True(t, knownMetric(n), "%s: metric %q is neither in the exporter contract nor declared external: %s", where, n, expr)
	}
}

// adapterRule is the part of a prometheus-adapter discovery rule the tests read.
type adapterRule struct {
	SeriesQuery  string `json:"seriesQuery"`
	MetricsQuery string `json:"metricsQuery"`
	Name         struct {
		Matches string `json:"matches"`
		As      string `json:"as"`
	} `json:"name"`
	Resources struct {
		Overrides map[string]struct {
			Resource string `json:"resource"`
		} `json:"overrides"`
	} `json:"resources"`
}

// adapterRules reads the rules ConfigMap (full or rules-only mode) from the rendered objects.
func adapterRules(t *testing.T, objects []object) ([]adapterRule, bool) {
	t.Helper()
	for _, cm := range typedOf[*corev1.ConfigMap](objects) {
		if cm.Labels["app.kubernetes.io/component"] != "adapter" {
			continue
		}
		cfg, ok := cm.Data["config.yaml"]
		require.True(t, ok, "adapter ConfigMap %s has no config.yaml", cm.Name)
		var doc struct {
			Rules []adapterRule `json:"rules"`
		}
		require.NoError(t, yaml.UnmarshalStrict([]byte(cfg), &doc, yaml.DisallowUnknownFields), "adapter config.yaml")
		return doc.Rules, true
	}
	return nil, false
}

// seriesOf returns the metric name a seriesQuery selects.
func seriesOf(t *testing.T, rule adapterRule) string {
	t.Helper()
	names := metricNames(t, "adapter seriesQuery", rule.SeriesQuery)
	require.Len(t, names, 1, "seriesQuery %s must select one metric", rule.SeriesQuery)
	return names[0]
}

// servedName applies the rule's name.matches/as to the series, as prometheus-adapter does.
func servedName(t *testing.T, rule adapterRule, series string) string {
	t.Helper()
	matches := rule.Name.Matches
	if matches == "" {
		matches = "^(.*)$"
	}
	re, err := regexp.Compile(matches)
	require.NoError(t, err, "name.matches %q", matches)
	as := rule.Name.As
	if as == "" {
		as = "$1"
	}
	require.True(t, re.MatchString(series), "name.matches %q does not match its own series %s", matches, series)
	return re.ReplaceAllString(series, as)
}

// expandAdapterQuery fills prometheus-adapter's Go-template placeholders the way the adapter does for a
// request about pods of one namespace.
func expandAdapterQuery(query, series string) string {
	r := strings.NewReplacer(
		"<<.Series>>", series,
		"<<.LabelMatchers>>", `namespace="medical-kg",pod=~"embedding-service-.*"`,
		"<<.GroupBy>>", "pod",
	)
	return r.Replace(query)
}

// expandGrafana fills a dashboard target's variables in with values PromQL accepts everywhere they
// appear here (label values and regexes), as internal/dashboards expands them for Grafana.
func expandGrafana(t *testing.T, d grafana.Dashboard, expr string) string {
	t.Helper()
	values := map[string][]string{}
	for _, v := range d.Variables {
		values[v.Name] = []string{"x"}
	}
	out, err := grafana.Expand(expr, values, grafana.Builtins{RateInterval: "5m", Interval: "1m", Range: "1h"})
	require.NoError(t, err, "dashboard %q", d.Title)
	return out
}

// loadDashboard parses a rendered dashboard as internal/dashboards reads it.
func loadDashboard(t *testing.T, name, dashboard string) grafana.Dashboard {
	t.Helper()
	d, err := grafana.Load([]byte(dashboard))
	require.NoError(t, err, "dashboard %s", name)
	return d
}

// dashboardQueries returns every PromQL expression of a Grafana dashboard (panel targets, variables
// expanded, and the metric of label_values() template variables), each with where it was found.
func dashboardQueries(t *testing.T, name, dashboard string) map[string]string {
	t.Helper()
	d := loadDashboard(t, name, dashboard)
	out := map[string]string{}
	for _, v := range d.Variables {
		if v.Metric != "" {
			out[fmt.Sprintf("%s: variable $%s", name, v.Name)] = v.Metric
		}
	}
	for i, p := range d.Panels {
		for j, target := range p.Targets {
			out[fmt.Sprintf("%s: panel %d %q target %d", name, i, p.Title, j)] = target
		}
	}
	return out
}

// dashboards returns the rendered dashboard ConfigMaps' JSON documents by data key.
func dashboards(t *testing.T, objects []object) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, cm := range typedOf[*corev1.ConfigMap](objects) {
		if cm.Labels["app.kubernetes.io/component"] != "dashboards" {
			continue
		}
		for k, v := range cm.Data {
			out[k] = v
		}
	}
	return out
}

// alertRulesOf returns the alerting rules of the rendered PrometheusRule, or of the plain rules-file
// ConfigMap when that is what the values render.
func alertRulesOf(t *testing.T, objects []object) []ruleSpec {
	t.Helper()
	var groups struct {
		Groups []struct {
			Name  string     `json:"name"`
			Rules []ruleSpec `json:"rules"`
		} `json:"groups"`
	}
	found := false
	for _, o := range byKind(objects, "PrometheusRule") {
		spec, ok, err := unstructured.NestedFieldNoCopy(o.obj.(*unstructured.Unstructured).Object, "spec")
		require.NoError(t, err)
		require.True(t, ok)
		b, err := json.Marshal(spec)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &groups))
		found = true
	}
	if !found {
		for _, cm := range typedOf[*corev1.ConfigMap](objects) {
			if f, ok := cm.Data["gpu-autoscaling.rules.yaml"]; ok {
				require.NoError(t, yaml.Unmarshal([]byte(f), &groups))
				found = true
			}
		}
	}
	var out []ruleSpec
	for _, g := range groups.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

type ruleSpec struct {
	// Record is set on recording rules (DCGM mode), Alert on alerting rules.
	Record      string            `json:"record,omitempty"`
	Alert       string            `json:"alert,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func TestPromQLParsesAndNamesOnlyKnownMetrics(t *testing.T) {
	t.Parallel()
	for _, sc := range []scenario{
		{name: "production", req: renderRequest{valuesFiles: []string{"values/production.yaml"}, extraArgs: monitoringAPIs}},
		{name: "sandbox", req: renderRequest{valuesFiles: []string{"values/sandbox.yaml"}}},
		{name: "rules-only", req: renderRequest{valuesFiles: []string{"values/rules-only.yaml"}, extraArgs: monitoringAPIs}},
		{name: "request-rate", req: renderRequest{values: "adapter:\n  rules:\n    requestRate:\n      enabled: true\nprometheusRule:\n  configMap: true\n"}},
		{name: "dcgm", req: renderRequest{valuesFiles: []string{"values/dcgm.yaml"}, extraArgs: monitoringAPIs}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			objects := decodeAll(t, render(t, sc.req))

			rules, ok := adapterRules(t, objects)
			require.True(t, ok, "no adapter rules ConfigMap rendered")
			require.GreaterOrEqual(t, len(rules), 4)
			for i, r := range rules {
				where := fmt.Sprintf("adapter rule %d", i)
				series := seriesOf(t, r)
				assert.True(t, knownMetric(series), "%s: series %s unknown", where, series)
				assert.Contains(t, r.MetricsQuery, "<<.LabelMatchers>>", "%s: the query must be restricted to the requested pods", where)
				assert.Contains(t, r.MetricsQuery, "<<.GroupBy>>", "%s: the query must aggregate per pod", where)
				assertKnownMetrics(t, where+" metricsQuery", expandAdapterQuery(r.MetricsQuery, series))
				assert.Equal(t, "namespace", r.Resources.Overrides["namespace"].Resource, where)
				assert.Equal(t, "pod", r.Resources.Overrides["pod"].Resource, where)
			}

			boards := dashboards(t, objects)
			require.Len(t, boards, 2, "dashboard ConfigMaps")
			total := 0
			for name, board := range boards {
				for where, expr := range dashboardQueries(t, name, board) {
					assertKnownMetrics(t, where, expandGrafana(t, loadDashboard(t, name, board), expr))
					total++
				}
			}
			assert.GreaterOrEqual(t, total, 20, "dashboard queries found")

			promRules := alertRulesOf(t, objects)
			alerting := 0
			for _, r := range promRules {
				if r.Alert != "" {
					alerting++
				}
			}
			if sc.name == "rules-only" || sc.name == "production" || sc.name == "sandbox" || sc.name == "request-rate" {
				assert.Equal(t, 5, alerting, "alerting rules")
				assert.Len(t, promRules, 7, "the alerts and the two pod -> service recording rules")
			}
			for _, r := range promRules {
				assertKnownMetrics(t, "rule "+r.Alert+r.Record, r.Expr)
			}
		})
	}
}

func TestDashboardsCoverTheSeedPanels(t *testing.T) {
	t.Parallel()
	objects := decodeAll(t, render(t, renderRequest{values: "dashboards:\n  label: grafana_dashboard_custom\n  labelValue: \"yes\"\n"}))
	var titles []string
	for _, cm := range typedOf[*corev1.ConfigMap](objects) {
		if cm.Labels["app.kubernetes.io/component"] != "dashboards" {
			continue
		}
		assert.Equal(t, "yes", cm.Labels["grafana_dashboard_custom"], "%s: sidecar label is configurable", cm.Name)
		assert.Equal(t, "GPU Autoscaling", cm.Annotations["grafana_folder"], cm.Name)
		for _, v := range cm.Data {
			var d struct {
				UID    string `json:"uid"`
				Panels []struct {
					Title string `json:"title"`
				} `json:"panels"`
			}
			require.NoError(t, json.Unmarshal([]byte(v), &d))
			assert.NotEmpty(t, d.UID)
			for _, p := range d.Panels {
				titles = append(titles, strings.ToLower(p.Title))
			}
		}
	}
	all := strings.Join(titles, "|")
	// Seed §Grafana Dashboard.
	for _, want := range []string{"gpu utilization by service", "gpu memory", "replica count", "hpa scaling events",
		"request rate", "response time", "cpu usage", "memory usage"} {
		assert.Contains(t, all, want, "a panel for %q", want)
	}
}

func TestEveryHPAMetricIsServed(t *testing.T) {
	t.Parallel()
	for _, sc := range append(scenarios(t), scenario{name: "request-rate",
		req: renderRequest{values: "adapter:\n  rules:\n    requestRate:\n      enabled: true\nservices:\n  embedding-service:\n    targets:\n      requestsPerSecond: 20\n"}}) {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			objects := decodeAll(t, render(t, sc.req))
			rules, haveRules := adapterRules(t, objects)
			served := map[string]string{} // served name -> source series
			for _, r := range rules {
				series := seriesOf(t, r)
				served[servedName(t, r, series)] = series
			}
			hpas := typedOf[*hpaV2](objects)
			require.NotEmpty(t, hpas)
			var used []string
			for _, h := range hpas {
				for i, m := range h.Spec.Metrics {
					where := fmt.Sprintf("%s metrics[%d]", h.Name, i)
					switch m.Type {
					case autoscalingv2.ResourceMetricSourceType:
						// metrics.k8s.io (metrics-server) serves cpu and memory only.
						assert.Contains(t, []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}, m.Resource.Name, where)
					case autoscalingv2.PodsMetricSourceType:
						require.True(t, haveRules, "%s: a Pods metric but no adapter rules rendered", where)
						series, ok := served[m.Pods.Metric.Name]
						if assert.True(t, ok, "%s: Pods metric %s is not served by any adapter rule (served: %v)", where, m.Pods.Metric.Name, keys(served)) {
							assert.True(t, knownMetric(series), "%s: served from %s, which no component exposes", where, series)
							used = append(used, m.Pods.Metric.Name)
						}
					default:
						t.Errorf("%s: metric type %s is not produced by the chart's defaults", where, m.Type)
					}
				}
			}
			assert.Contains(t, used, "gpu_utilization_percent")
			assert.Contains(t, used, "gpu_memory_usage_mb")
		})
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
