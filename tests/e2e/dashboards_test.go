package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/medical-kg/gpu-autoscaling/internal/dashboards"
	"github.com/medical-kg/gpu-autoscaling/internal/repo"
)

// dashboardBuiltins are Grafana's own variables for the sandbox: its
// $__rate_interval is at least four scrape intervals.
var dashboardBuiltins = dashboards.Builtins{RateInterval: (4 * scrapeInterval).String(), Interval: scrapeInterval.String(), Range: "1h"}

// testDashboardPanels: every panel and template variable of the chart's
// dashboards returns data on the cluster once the scale-up ran — the
// variables filled in as Grafana fills them ($namespace from
// label_values(kube_horizontalpodautoscaler_info, namespace), $service
// "All", $node every node) — and the failure names each empty panel.
func testDashboardPanels(t *testing.T) {
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	all, err := dashboards.LoadDir(filepath.Join(root, "charts", "gpu-autoscaling", "dashboards"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := promapi.NewClient(promapi.Config{Address: env.cluster.PrometheusURL()})
	if err != nil {
		t.Fatal(err)
	}
	prom := promv1.NewAPI(c)
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
			for _, r := range dashboards.Empty(dashboards.Evaluate(ctx, prom, d, values, dashboardBuiltins, time.Now())) {
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
