package chart_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/medical-kg/gpu-autoscaling/internal/rulesonly"
)

// existingAdapterConfig is the config.yaml of an adapter other HPAs already use (testdata).
func existingAdapterConfig(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "existing-adapter-config.yaml"))
	require.NoError(t, err)
	return string(data)
}

// rulesOnlyRequest renders values/rules-only.yaml with adapter overrides and, when existing is not empty,
// adapter.rulesOnly.existingConfig (a string, as --set-file gives it).
func rulesOnlyRequest(t *testing.T, existing string, adapter map[string]any) renderRequest {
	t.Helper()
	if adapter == nil {
		adapter = map[string]any{}
	}
	if existing != "" {
		adapter["rulesOnly"] = map[string]any{"existingConfig": existing}
	}
	values, err := yaml.Marshal(map[string]any{"adapter": adapter})
	require.NoError(t, err)
	return renderRequest{valuesFiles: []string{"values/rules-only.yaml"}, values: string(values)}
}

func renderRulesOnly(t *testing.T, existing string, adapter map[string]any) *rulesonly.Rendered {
	t.Helper()
	r, err := rulesonly.FromManifest(render(t, rulesOnlyRequest(t, existing, adapter)))
	require.NoError(t, err)
	return r
}

// generic decodes YAML without types, to compare what a typed decode might not look at.
func generic(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, yaml.Unmarshal(data, &m))
	return m
}

func TestRulesOnlyMergedConfigKeepsTheExistingConfigAndAppendsTheChartRules(t *testing.T) {
	t.Parallel()
	existingYAML := existingAdapterConfig(t)
	existing, err := rulesonly.ParseConfig([]byte(existingYAML))
	require.NoError(t, err, "the fixture decodes with the adapter's config types")
	require.Len(t, existing.Rules, 1)
	require.NotNil(t, existing.ResourceRules)
	require.Len(t, existing.ExternalRules, 1)

	own := renderRulesOnly(t, "", nil)
	require.NotEmpty(t, own.Config.Rules)
	assert.Nil(t, own.Config.ResourceRules, "without existingConfig config.yaml holds only the chart's rules")
	assert.Empty(t, own.Config.ExternalRules)

	merged := renderRulesOnly(t, existingYAML, nil)
	assert.Equal(t, "monitoring", merged.Namespace)
	assert.Equal(t, "gpu-autoscaling-adapter-rules", merged.Name)
	n := len(existing.Rules)
	require.Len(t, merged.Config.Rules, n+len(own.Config.Rules))
	assert.Equal(t, existing.Rules, merged.Config.Rules[:n], "existing rules first, unchanged")
	assert.Equal(t, own.Config.Rules, merged.Config.Rules[n:], "the chart's rules appended")
	assert.Equal(t, existing.ResourceRules, merged.Config.ResourceRules)
	assert.Equal(t, existing.ExternalRules, merged.Config.ExternalRules)
	assert.Equal(t, "${1}_per_second", merged.Config.Rules[0].Name.As)
	assert.Equal(t, "3m", merged.Config.ResourceRules.Window)

	// Verbatim beyond the typed fields: the untyped documents agree entry by entry.
	want, got := generic(t, []byte(existingYAML)), generic(t, merged.ConfigYAML)
	assert.Equal(t, want["resourceRules"], got["resourceRules"])
	assert.Equal(t, want["externalRules"], got["externalRules"])
	assert.Equal(t, want["rules"], got["rules"].([]any)[:n])
	assert.Equal(t, generic(t, own.ConfigYAML)["rules"], got["rules"].([]any)[n:])
	assert.Len(t, got, 3, "rules, resourceRules, externalRules and nothing else")

	// Deterministic: the same inputs render the same bytes.
	req := rulesOnlyRequest(t, existingYAML, nil)
	assert.Equal(t, render(t, req), render(t, req))
}

func TestRulesOnlyValuesSnippetCarriesTheChartRulesAsRulesCustom(t *testing.T) {
	t.Parallel()
	withEverything := map[string]any{"rules": map[string]any{
		"requestRate": map[string]any{"enabled": true},
		"custom": []any{map[string]any{
			"seriesQuery":  `tokens_generated_total{namespace!="",pod!=""}`,
			"resources":    map[string]any{"template": "<<.Resource>>"},
			"name":         map[string]any{"matches": "^tokens_generated_total$", "as": "tokens_per_second"},
			"metricsQuery": "sum(rate(<<.Series>>{<<.LabelMatchers>>}[1m])) by (<<.GroupBy>>)",
		}},
	}}
	for name, adapter := range map[string]map[string]any{"defaults": nil, "request-rate+custom": withEverything} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			own := renderRulesOnly(t, "", adapter)
			assert.Equal(t, own.Config.Rules, own.Values.Rules.Custom, "the snippet's rules.custom are the chart's rules")
			assert.Equal(t, generic(t, own.ConfigYAML)["rules"], generic(t, own.ValuesYAML)["rules"].(map[string]any)["custom"])
			assert.Len(t, generic(t, own.ValuesYAML)["rules"], 1, "rules.custom only: never rules.existing or rules.default")

			merged := renderRulesOnly(t, existingAdapterConfig(t), adapter)
			assert.Equal(t, own.ValuesYAML, merged.ValuesYAML, "the snippet holds the chart's rules only, with or without existingConfig")
		})
	}
	// The request-rate and custom rules are in it.
	r := renderRulesOnly(t, "", withEverything)
	var served []string
	for _, rule := range r.Values.Rules.Custom {
		served = append(served, rule.Name.As)
	}
	assert.Contains(t, served, "service_requests_per_second")
	assert.Contains(t, served, "tokens_per_second")
}

func TestRulesOnlyRefusesAMetricAnExistingRuleAlreadyServes(t *testing.T) {
	t.Parallel()
	requestRate := map[string]any{"rules": map[string]any{"requestRate": map[string]any{"enabled": true}}}
	cases := []struct {
		name    string
		rule    string
		adapter map[string]any
		metric  string // "" means accepted
		want    []string
	}{
		{name: "prometheus-community default catch-all rule",
			rule:   `{seriesQuery: '{namespace!="",__name__!~"^container_.*"}', seriesFilters: [{isNot: '.*_total$'}], resources: {template: '<<.Resource>>'}, name: {matches: "", as: ""}, metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'}`,
			metric: "gpu_utilization_percent", want: []string{"rules[1]", `isNot: "^gpu_utilization_percent$"`, "rules.default=false"}},
		{name: "same series, same name",
			rule:   `{seriesQuery: 'gpu_memory_usage_mb{pod!=""}', resources: {template: '<<.Resource>>'}, name: {matches: "^gpu_memory_usage_mb$", as: ""}, metricsQuery: 'max(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'}`,
			metric: "gpu_memory_usage_mb"},
		{name: "regex over the GPU series, one capture group",
			rule:   `{seriesQuery: '{__name__=~"gpu_.+",namespace!=""}', resources: {template: '<<.Resource>>'}, name: {matches: "^(gpu_temp.*)$"}, metricsQuery: 'x'}`,
			metric: "gpu_temperature_celsius"},
		{name: "a literal name from another series",
			rule:   `{seriesQuery: 'dcgm_gpu_util{pod!=""}', resources: {template: '<<.Resource>>'}, name: {matches: "", as: "gpu_utilization_percent"}, metricsQuery: 'x'}`,
			metric: "gpu_utilization_percent"},
		{name: "the request-rate metric",
			rule:    `{seriesQuery: '{__name__=~"^service_.*_total$",pod!=""}', resources: {template: '<<.Resource>>'}, name: {matches: "^(.*)_total$", as: "${1}_per_second"}, metricsQuery: 'x'}`,
			adapter: requestRate, metric: "service_requests_per_second"},
		{name: "request-rate series served under another name is fine",
			rule:    `{seriesQuery: 'service_requests_total{pod!=""}', resources: {template: '<<.Resource>>'}, name: {matches: "^(.*)_total$", as: "${1}_count"}, metricsQuery: 'x'}`,
			adapter: requestRate},
		{name: "GPU series excluded by __name__ matchers",
			rule: `{seriesQuery: '{__name__=~"gpu_.*",__name__!="gpu_utilization_percent",__name__!~"gpu_memory.*|gpu_temp.*"}', resources: {template: '<<.Resource>>'}, name: {matches: "^(gpu_.*)$"}, metricsQuery: 'x'}`},
		{name: "GPU series excluded by seriesFilters",
			rule: `{seriesQuery: '{namespace!="",__name__!~"^container_.*"}', seriesFilters: [{isNot: '.*_total$'}, {isNot: '^gpu_'}], resources: {template: '<<.Resource>>'}, name: {matches: "", as: ""}, metricsQuery: 'x'}`},
		{name: "GPU series renamed",
			rule: `{seriesQuery: '{__name__=~"gpu_.*"}', resources: {template: '<<.Resource>>'}, name: {matches: "^gpu_(.*)$", as: "node_gpu_${1}"}, metricsQuery: 'x'}`},
		{name: "another series",
			rule: `{seriesQuery: 'gpu_utilization_percent_raw{pod!=""}', resources: {template: '<<.Resource>>'}, name: {matches: "", as: ""}, metricsQuery: 'x'}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			existing := existingAdapterConfig(t)
			existing = strings.Replace(existing, "resourceRules:", "- "+tc.rule+"\nresourceRules:", 1)
			_, err := renderE(t, rulesOnlyRequest(t, existing, tc.adapter))
			if tc.metric == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err, "the collision must be refused")
			for _, w := range append([]string{"adapter.rulesOnly.existingConfig", "already serves the metric " + tc.metric, "seriesFilters"}, tc.want...) {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
	t.Run("a config this chart already merged", func(t *testing.T) {
		t.Parallel()
		merged := renderRulesOnly(t, existingAdapterConfig(t), nil)
		_, err := renderE(t, rulesOnlyRequest(t, string(merged.ConfigYAML), nil))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "this chart's own rule for gpu_utilization_percent")
		assert.Contains(t, err.Error(), "original config.yaml")
	})
}

func TestRulesOnlyRefusesAMalformedExistingConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, config string
		adapter      map[string]any
		want         string
	}{
		{name: "not YAML", config: "rules:\n- [1\n", want: "is not a prometheus-adapter config.yaml"},
		{name: "a list", config: "- seriesQuery: x\n", want: "is not a prometheus-adapter config.yaml"},
		{name: "a scalar", config: "rules\n", want: "is not a prometheus-adapter config.yaml"},
		{name: "unknown top-level key", config: "rules: []\nrule: []\n", want: `unknown top-level key "rule"`},
		{name: "rules a mapping", config: "rules:\n  seriesQuery: x\n", want: "rules must be a list of rules, got map"},
		{name: "externalRules a string", config: "externalRules: none\n", want: "externalRules must be a list of rules, got string"},
		{name: "a rule not a mapping", config: "rules:\n- x\n", want: "rules[0] is not a rule"},
		{name: "a rule without seriesQuery", config: "rules:\n- metricsQuery: x\n", want: "rules[0] is not a rule"},
		{name: "resourceRules a list", config: "resourceRules: []\n", want: "resourceRules must be a mapping"},
		{name: "full mode", config: "rules: []\n", adapter: map[string]any{"mode": "full"}, want: "only used with adapter.mode=rulesOnly"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := renderE(t, rulesOnlyRequest(t, tc.config, tc.adapter))
			require.Error(t, err, "existingConfig %q accepted", tc.config)
			assert.Contains(t, err.Error(), "adapter.rulesOnly.existingConfig")
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
