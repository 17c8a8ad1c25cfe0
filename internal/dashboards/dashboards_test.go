package dashboards

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

func TestLoadTheChartsDashboards(t *testing.T) {
	files, err := filepath.Glob("../../charts/gpu-autoscaling/dashboards/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards found (%v)", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Load(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if d.Title == "" || len(d.Panels) == 0 {
			t.Errorf("%s: title %q, %d panels", f, d.Title, len(d.Panels))
		}
		for _, p := range d.Panels {
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no targets", f, p.Title)
			}
		}
	}
}

const doc = `{"title": "T", "templating": {"list": [
  {"name": "datasource", "type": "datasource"},
  {"name": "namespace", "type": "query", "query": {"query": "label_values(kube_horizontalpodautoscaler_info, namespace)"}},
  {"name": "service", "type": "custom", "query": "a-svc,b-svc", "multi": true, "includeAll": true, "allValue": ".+"},
  {"name": "node", "type": "query", "query": "label_values(gpu_utilization_percent, node)", "multi": true}
]}, "panels": [
  {"title": "Row", "type": "row", "panels": [{"title": "In a row", "targets": [{"expr": "up{node=~\"$node\"}"}]}]},
  {"title": "Replicas", "targets": [{"expr": "kube_deployment_status_replicas{namespace=\"$namespace\", deployment=~\"${service}\"}"},
    {"expr": "changes(x{namespace=\"$namespace\"}[$__rate_interval])"}]},
  {"title": "Text"}
]}`

func TestLoadVariablesAndNestedPanels(t *testing.T) {
	d, err := Load([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Variables) != 4 || d.Variables[1].Metric != "kube_horizontalpodautoscaler_info" || d.Variables[1].Label != "namespace" ||
		strings.Join(d.Variables[2].Options, ",") != "a-svc,b-svc" || d.Variables[2].AllValue != ".+" {
		t.Errorf("variables = %+v", d.Variables)
	}
	if len(d.Panels) != 2 || d.Panels[0].Title != "In a row" || len(d.Panels[1].Targets) != 2 {
		t.Errorf("panels = %+v, want the row's panel and Replicas (the text panel has no targets)", d.Panels)
	}
	if _, err := Load([]byte(`{"templating": {"list": [{"name": "v", "type": "query", "query": "query_result(up)"}]}}`)); err == nil ||
		!strings.Contains(err.Error(), "label_values") {
		t.Errorf("an unsupported query variable: %v", err)
	}
}

func TestExpand(t *testing.T) {
	b := Builtins{RateInterval: "1m", Interval: "15s", Range: "1h"}
	for _, tc := range []struct {
		expr   string
		values map[string][]string
		want   string
	}{
		{`a{ns="$ns"}[$__rate_interval]`, map[string][]string{"ns": {"medical-kg"}}, `a{ns="medical-kg"}[1m]`},
		{`a{pod=~"(${svc})-.*"}`, map[string][]string{"svc": {"a.b", "c"}}, `a{pod=~"((a\.b|c))-.*"}`},
		{`a{x=~"${svc:regex}"}`, map[string][]string{"svc": {".+"}}, `a{x=~".+"}`},
	} {
		got, err := Expand(tc.expr, tc.values, b)
		if err != nil || got != tc.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tc.expr, got, err, tc.want)
		}
	}
	if _, err := Expand(`a{ns="$ns", n="$node"}`, nil, b); err == nil || !strings.Contains(err.Error(), "$ns, $node") {
		t.Errorf("missing values: %v", err)
	}
}

// fakeProm answers label values and queries from tables.
type fakeProm struct {
	labels  map[string][]string // label → values
	results map[string]int      // query → series returned
	queries []string
}

func (f *fakeProm) Query(_ context.Context, q string, _ time.Time, _ ...promv1.Option) (model.Value, promv1.Warnings, promv1.Infos, error) {
	f.queries = append(f.queries, q)
	n, ok := f.results[q]
	if !ok {
		return nil, nil, nil, errors.New("bad_data: unknown query")
	}
	v := make(model.Vector, n)
	for i := range v {
		v[i] = &model.Sample{}
	}
	return v, nil, nil, nil
}

func (f *fakeProm) LabelValues(_ context.Context, label string, _ []string, _, _ time.Time, _ ...promv1.Option) (model.LabelValues, promv1.Warnings, promv1.Infos, error) {
	var out model.LabelValues
	for _, v := range f.labels[label] {
		out = append(out, model.LabelValue(v))
	}
	return out, nil, nil, nil
}

func TestValuesAndEvaluate(t *testing.T) {
	d, err := Load([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	f := &fakeProm{labels: map[string][]string{"namespace": {"medical-kg", "other"}, "node": {"n0", "n1"}}, results: map[string]int{
		`up{node=~"(n0|n1)"}`: 2,
		`kube_deployment_status_replicas{namespace="medical-kg", deployment=~".+"}`: 4,
		`changes(x{namespace="medical-kg"}[1m])`:                                    0,
	}}
	vals, err := Values(context.Background(), f, d, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	// Not multi: Grafana's default is the first value; multi: all; All: allValue.
	if strings.Join(vals["namespace"], ",") != "medical-kg" || strings.Join(vals["node"], ",") != "n0,n1" || strings.Join(vals["service"], ",") != ".+" {
		t.Errorf("values = %v", vals)
	}
	res := Evaluate(context.Background(), f, d, vals, Builtins{RateInterval: "1m", Interval: "15s", Range: "1h"}, now)
	if len(res) != 2 || res[0].Series != 2 || res[1].Series != 4 || res[0].Err != nil || res[1].Err != nil {
		t.Errorf("results = %+v", res)
	}
	pinned, err := Values(context.Background(), f, d, map[string][]string{"namespace": {"other"}}, now)
	if err != nil || pinned["namespace"][0] != "other" {
		t.Errorf("a pinned value must win: %v, %v", pinned, err)
	}
	if _, err := Values(context.Background(), &fakeProm{}, d, nil, now); err == nil || !strings.Contains(err.Error(), "$namespace has no values") {
		t.Errorf("an empty query variable: %v", err)
	}
	res = Evaluate(context.Background(), &fakeProm{}, d, vals, Builtins{RateInterval: "1m"}, now)
	if res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "unknown query") {
		t.Errorf("a failing query must be reported: %+v", res[0])
	}
}
