package dashboards

import (
	"context"
	"fmt"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Querier is what evaluating needs of Prometheus' HTTP API; promv1.API has it.
type Querier interface {
	Query(ctx context.Context, query string, ts time.Time, opts ...promv1.Option) (model.Value, promv1.Warnings, promv1.Infos, error)
	LabelValues(ctx context.Context, label string, matches []string, startTime, endTime time.Time, opts ...promv1.Option) (model.LabelValues, promv1.Warnings, promv1.Infos, error)
}

// Values resolves the dashboard's variables as Grafana's default selection
// would: a pinned value wins; a variable with "All" takes its AllValue (or
// every value); a query variable's values are label_values over the last
// hour — all of them with multi or All, else the first; a custom variable's
// are its options. Data source variables need no value. A query variable
// with no values is an error: Grafana would leave every panel using it empty.
func Values(ctx context.Context, q Querier, d Dashboard, pinned map[string][]string, now time.Time) (map[string][]string, error) {
	out := map[string][]string{}
	for _, v := range d.Variables {
		if p, ok := pinned[v.Name]; ok {
			out[v.Name] = p
			continue
		}
		if v.IncludeAll && v.AllValue != "" {
			out[v.Name] = []string{v.AllValue}
			continue
		}
		var vals []string
		switch v.Type {
		case "datasource":
			continue
		case "custom":
			vals = v.Options
		case "query":
			lv, _, _, err := q.LabelValues(ctx, v.Label, []string{v.Metric}, now.Add(-time.Hour), now)
			if err != nil {
				return nil, fmt.Errorf("dashboard %q: variable $%s: label_values(%s, %s): %w", d.Title, v.Name, v.Metric, v.Label, err)
			}
			for _, l := range lv {
				vals = append(vals, string(l))
			}
		default:
			return nil, fmt.Errorf("dashboard %q: variable $%s: type %q is not evaluated here: pin its value", d.Title, v.Name, v.Type)
		}
		if len(vals) == 0 {
			return nil, fmt.Errorf("dashboard %q: variable $%s has no values (label_values(%s, %s) is empty), so every panel using it is empty",
				d.Title, v.Name, v.Metric, v.Label)
		}
		if !v.Multi && !v.IncludeAll {
			vals = vals[:1]
		}
		out[v.Name] = vals
	}
	return out, nil
}

// Result is one panel's evaluation.
type Result struct {
	Dashboard, Panel string
	// Queries are the panel's targets with the variables filled in.
	Queries []string
	// Series is how many series its targets returned, in all.
	Series int
	// Err is the first target that could not be expanded or evaluated.
	Err error
}

// Evaluate runs every panel's targets as instant queries at now.
func Evaluate(ctx context.Context, q Querier, d Dashboard, values map[string][]string, b Builtins, now time.Time) []Result {
	var out []Result
	for _, p := range d.Panels {
		r := Result{Dashboard: d.Title, Panel: p.Title}
		for _, t := range p.Targets {
			expr, err := Expand(t, values, b)
			if err != nil {
				r.Err = fmt.Errorf("target %q: %w", t, err)
				break
			}
			r.Queries = append(r.Queries, expr)
			v, _, _, err := q.Query(ctx, expr, now)
			if err != nil {
				r.Err = fmt.Errorf("query %q: %w", expr, err)
				break
			}
			r.Series += seriesCount(v)
		}
		out = append(out, r)
	}
	return out
}

func seriesCount(v model.Value) int {
	switch x := v.(type) {
	case model.Vector:
		return len(x)
	case model.Matrix:
		return len(x)
	case *model.Scalar, *model.String:
		return 1
	}
	return 0
}
