// Package dashboards reads the chart's Grafana dashboards — their panels'
// PromQL targets and their template variables — fills the variables in as
// Grafana's Prometheus data source does, and evaluates every panel against a
// Prometheus, so a test or the demo can say which panel would be empty.
package dashboards

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Dashboard is what this package reads of a Grafana dashboard.
type Dashboard struct {
	Title     string
	Variables []Variable
	Panels    []Panel
}

// Panel is a panel with its PromQL targets.
type Panel struct {
	Title   string
	Targets []string
}

// Variable is a template variable.
type Variable struct {
	Name string
	Type string // query, custom, datasource, …
	// Metric and Label are a query variable's label_values(Metric, Label).
	Metric, Label string
	// Options are a custom variable's values.
	Options    []string
	Multi      bool
	IncludeAll bool
	// AllValue is what "All" stands for; empty means every value.
	AllValue string
}

type grafanaDoc struct {
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Multi      bool            `json:"multi"`
			IncludeAll bool            `json:"includeAll"`
			AllValue   *string         `json:"allValue"`
		} `json:"list"`
	} `json:"templating"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaPanel struct {
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a collapsed row's panels
}

var labelValues = regexp.MustCompile(`^\s*label_values\(\s*(.+?)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$`)

// Load parses a dashboard's JSON.
func Load(data []byte) (Dashboard, error) {
	var doc grafanaDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return Dashboard{}, fmt.Errorf("dashboard is not valid JSON: %w", err)
	}
	d := Dashboard{Title: doc.Title}
	for _, v := range doc.Templating.List {
		tv := Variable{Name: v.Name, Type: v.Type, Multi: v.Multi, IncludeAll: v.IncludeAll}
		if v.AllValue != nil {
			tv.AllValue = *v.AllValue
		}
		query := queryString(v.Query)
		switch v.Type {
		case "query":
			m := labelValues.FindStringSubmatch(query)
			if m == nil {
				return Dashboard{}, fmt.Errorf("dashboard %q: variable %s: query %q is not label_values(<metric>, <label>), the only form this package evaluates", doc.Title, v.Name, query)
			}
			tv.Metric, tv.Label = m[1], m[2]
		case "custom":
			for _, o := range strings.Split(query, ",") {
				if o = strings.TrimSpace(o); o != "" {
					tv.Options = append(tv.Options, o)
				}
			}
		}
		d.Variables = append(d.Variables, tv)
	}
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			if len(p.Targets) > 0 {
				panel := Panel{Title: p.Title}
				for _, t := range p.Targets {
					if t.Expr != "" {
						panel.Targets = append(panel.Targets, t.Expr)
					}
				}
				d.Panels = append(d.Panels, panel)
			}
			walk(p.Panels)
		}
	}
	walk(doc.Panels)
	return d, nil
}

// queryString is a variable's query: a string, or an object with a query
// field (Grafana's newer form).
func queryString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	_ = json.Unmarshal(raw, &o)
	return o.Query
}

// Builtins are the values of Grafana's own variables.
type Builtins struct {
	RateInterval string // $__rate_interval, e.g. "1m"
	Interval     string // $__interval, e.g. "15s"
	Range        string // $__range, e.g. "1h"
}

// GrafanaDefaults are the built-ins Grafana uses for a Prometheus data
// source left at its default 15 s scrape interval: $__rate_interval is
// max($__interval + 15 s, 4 × 15 s) = 1m for dashboards of an hour or so.
// A shorter rate window can hold a single sample of the kubelet's cAdvisor
// series (timestamped at its housekeeping, not at the scrape) and return
// nothing.
var GrafanaDefaults = Builtins{RateInterval: "1m", Interval: "15s", Range: "1h"}

var (
	braced = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::[a-z]+)?\}`)
	plain  = regexp.MustCompile(`\$([A-Za-z_][A-Za-z0-9_]*)`)
)

// Expand fills a target's variables in: the built-ins, then each template
// variable's value as Grafana's Prometheus data source formats it — one
// value as is, several as a regex alternation "(a|b)" with regex
// metacharacters escaped. A variable without a value is an error (a panel
// that would query with "$name" literally).
func Expand(expr string, values map[string][]string, b Builtins) (string, error) {
	expr = strings.NewReplacer("$__rate_interval", b.RateInterval, "$__interval", b.Interval, "$__range", b.Range).Replace(expr)
	var missing []string
	format := func(name string) string {
		vals, ok := values[name]
		if !ok || len(vals) == 0 {
			missing = append(missing, name)
			return ""
		}
		if len(vals) == 1 {
			return vals[0]
		}
		quoted := make([]string, len(vals))
		for i, v := range vals {
			quoted[i] = regexp.QuoteMeta(v)
		}
		return "(" + strings.Join(quoted, "|") + ")"
	}
	expr = braced.ReplaceAllStringFunc(expr, func(m string) string { return format(braced.FindStringSubmatch(m)[1]) })
	expr = plain.ReplaceAllStringFunc(expr, func(m string) string { return format(m[1:]) })
	if len(missing) > 0 {
		return "", fmt.Errorf("no value for $%s", strings.Join(missing, ", $"))
	}
	return expr, nil
}
