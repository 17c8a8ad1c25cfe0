package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/dashboards"
)

// testDashboardPanels: every panel and template variable of the chart's
// dashboards returns data on the cluster once the scale-up ran — the
// variables filled in as Grafana fills them ($namespace from
// label_values(kube_horizontalpodautoscaler_info, namespace), $service
// "All", $node every node) — and the failure names each empty panel.
func testDashboardPanels(t *testing.T) {
	// The dashboards as the release rendered them (what Grafana's sidecar loads).
	cms, err := adminClient(t).CoreV1().ConfigMaps(namespace).List(context.Background(),
		metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=dashboards"})
	if err != nil {
		t.Fatal(err)
	}
	var all []dashboards.Dashboard
	for _, cm := range cms.Items {
		for key, data := range cm.Data {
			d, err := dashboards.Load([]byte(data))
			if err != nil {
				t.Fatalf("ConfigMap %s key %s: %v", cm.Name, key, err)
			}
			all = append(all, d)
		}
	}
	if len(all) != 2 {
		t.Fatalf("%d dashboards in the release's ConfigMaps, want 2", len(all))
	}
	prom := prometheusAPI(t)
	for _, d := range all {
		// Series appear within a scrape or two of a pod starting: retry
		// for a while, then name what is still empty.
		var empty []string
		eventually(t, time.Minute, 5*time.Second, "every panel of "+d.Title+" has data", func(ctx context.Context) (bool, string) {
			values, err := dashboards.Values(ctx, prom, d, map[string][]string{"namespace": {namespace}}, time.Now())
			if err != nil {
				return false, err.Error()
			}
			// The namespace variable itself must list the release's namespace.
			if ns, err := dashboards.Values(ctx, prom, d, nil, time.Now()); err != nil {
				return false, err.Error()
			} else if v, ok := ns["namespace"]; ok && !containsAll(v, namespace) {
				return false, "$namespace does not offer " + namespace
			}
			empty = empty[:0]
			for _, r := range dashboards.Empty(dashboards.Evaluate(ctx, prom, d, values, dashboards.GrafanaDefaults, time.Now())) {
				if r.Err != nil {
					empty = append(empty, r.Panel+": "+r.Err.Error())
				} else {
					empty = append(empty, r.Panel+": no series from "+strings.Join(r.Queries, " ; "))
				}
			}
			return len(empty) == 0, strings.Join(empty, "\n")
		})
		t.Logf("dashboard %q: %d panels, each with data", d.Title, len(d.Panels))
	}
}

// testPodServiceMapping: the chart's recording rule the per-service panels
// join on (gpu_autoscaling:pod_service:info, from kube-state-metrics' owner
// series) maps every running pod of each service's Deployment to that
// service, and no pod of another workload to it.
func testPodServiceMapping(t *testing.T) {
	cs := adminClient(t)
	for _, svc := range services {
		eventually(t, time.Minute, 2*time.Second, "pods of "+svc+" mapped to it", func(ctx context.Context) (bool, string) {
			pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: contract.ServiceLabel + "=" + svc})
			if err != nil {
				return false, err.Error()
			}
			v, err := promQuery(ctx, fmt.Sprintf(`%s{namespace=%q, service=%q}`, contract.PodServiceRecording, namespace, svc))
			if err != nil {
				return false, err.Error()
			}
			mapped := map[string]bool{}
			for _, s := range v {
				mapped[string(s.Metric["pod"])] = true
				if w := string(s.Metric["workload"]); w != svc || s.Metric["workload_kind"] != "Deployment" {
					return false, fmt.Sprintf("pod %s mapped through workload %s/%s", s.Metric["pod"], s.Metric["workload_kind"], w)
				}
			}
			running := 0
			for _, p := range pods.Items {
				if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
					continue
				}
				running++
				if !mapped[p.Name] {
					return false, fmt.Sprintf("running pod %s not mapped (mapped: %v)", p.Name, mapped)
				}
			}
			return running > 0, fmt.Sprintf("%d running pods of %s", running, svc)
		})
	}
}

func containsAll(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

// testAlertSeries: every metric each of the chart's alert expressions reads
// exists in the cluster's Prometheus (an alert on a series nothing produces
// can never fire). The rules come from the release's rules ConfigMap
// (values/sandbox.yaml renders prometheusRule.configMap), as a Prometheus
// would load them.
func testAlertSeries(t *testing.T) {
	cs := adminClient(t)
	ctx := context.Background()
	cm, err := cs.CoreV1().ConfigMaps(namespace).Get(ctx, contract.DefaultRelease+"-alert-rules", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the release's alert rules ConfigMap: %v", err)
	}
	var file struct {
		Groups []struct {
			Rules []struct {
				Alert string `json:"alert"`
				Expr  string `json:"expr"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal([]byte(cm.Data["gpu-autoscaling.rules.yaml"]), &file); err != nil {
		t.Fatalf("rules file: %v", err)
	}
	alerts := 0
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			expr, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr)
			if err != nil {
				t.Errorf("alert %s: %v", r.Alert, err)
				continue
			}
			names := map[string]bool{}
			parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
				if vs, ok := n.(*parser.VectorSelector); ok && vs.Name != "" {
					names[vs.Name] = true
				}
				return nil
			})
			for name := range names {
				eventually(t, 30*time.Second, 5*time.Second, "alert "+r.Alert+" reads existing series of "+name, func(ctx context.Context) (bool, string) {
					v, err := promQuery(ctx, fmt.Sprintf(`count({__name__=%q})`, name))
					if err != nil {
						return false, err.Error()
					}
					return len(v) == 1 && v[0].Value > 0, fmt.Sprintf("no %s series in Prometheus: the alert can never fire", name)
				})
			}
		}
	}
	if alerts == 0 {
		t.Fatal("no alerting rules in the release's rules ConfigMap")
	}
	// The sandbox Prometheus loads the ConfigMap (values/sandbox.yaml labels
	// it for the sandbox's rule_files): every alert of it is evaluated.
	loaded, err := prometheusAPI(t).Rules(ctx, nil)
	if err != nil {
		t.Fatalf("Prometheus rules: %v", err)
	}
	have := map[string]bool{}
	for _, g := range loaded.Groups {
		for _, r := range g.Rules {
			if a, ok := r.(promv1.AlertingRule); ok {
				have[a.Name] = true
			}
		}
	}
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" && !have[r.Alert] {
				t.Errorf("alert %s of the rules ConfigMap is not loaded by Prometheus (loaded: %v)", r.Alert, have)
			}
		}
	}
	t.Logf("%d alerts, loaded and evaluated by Prometheus: every metric they read has series", alerts)
}

// testScenarioAlertsFire: the scale-up asked docling-vlm-service for more
// pods than its maxReplicas (4 in values/sandbox.yaml), so its HPA is pinned
// at the maximum and GPUServiceHPAAtMaxReplicas fires for it (pending time
// compressed to 1m in values/sandbox.yaml); the others are below their maximum
// and it does not fire for them.
func testScenarioAlertsFire(t *testing.T) {
	cs := adminClient(t)
	h, err := getHPA(context.Background(), cs, svcDocling)
	if err != nil {
		t.Fatal(err)
	}
	if h.Status.CurrentReplicas != h.Spec.MaxReplicas {
		t.Fatalf("%s runs %d replicas, not its maximum %d: the scenario no longer pins it at maxReplicas", h.Name, h.Status.CurrentReplicas, h.Spec.MaxReplicas)
	}
	start := time.Now()
	eventually(t, 3*time.Minute, 5*time.Second, "GPUServiceHPAAtMaxReplicas fires for "+h.Name, func(ctx context.Context) (bool, string) {
		firing, err := firingAlerts(ctx, t, "GPUServiceHPAAtMaxReplicas", "horizontalpodautoscaler")
		if err != nil {
			return false, err.Error()
		}
		return slices.Equal(firing, []string{h.Name}), fmt.Sprintf("firing for %v", firing)
	})
	t.Logf("figure: GPUServiceHPAAtMaxReplicas firing for %s (only) %s after this check began", h.Name, time.Since(start).Round(time.Second))
}

// firingAlerts returns the sorted values of label by of the alert's firing
// instances.
func firingAlerts(ctx context.Context, t *testing.T, alert, by string) ([]string, error) {
	res, err := prometheusAPI(t).Alerts(ctx)
	if err != nil {
		return nil, fmt.Errorf("Prometheus alerts: %w", err)
	}
	var firing []string
	for _, a := range res.Alerts {
		if string(a.Labels[model.AlertNameLabel]) == alert && a.State == promv1.AlertStateFiring {
			firing = append(firing, string(a.Labels[model.LabelName(by)]))
		}
	}
	slices.Sort(firing)
	return firing, nil
}
