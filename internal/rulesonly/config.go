// Package rulesonly produces what the chart's rules-only mode gives a cluster that already runs
// prometheus-adapter: the adapter's config.yaml with this chart's rules merged into an existing one
// (adapter.rulesOnly.existingConfig), and the prometheus-community chart's `rules.custom` values snippet.
// The chart does the merge (templates/_helpers.tpl of the adapter subchart); this package renders it
// through the Helm SDK (internal/deploy) and decodes it strictly with the adapter's configuration types,
// so an end-to-end test can hand the result to the pinned adapter.
package rulesonly

import (
	"fmt"

	"sigs.k8s.io/yaml"
)

// Config mirrors prometheus-adapter v0.12.0's pkg/config.MetricsDiscoveryConfig (the module is not a
// dependency of this one: it lives in tools/cluster/adapter). The adapter reads its config.yaml with
// yaml.UnmarshalStrict, so ParseConfig rejects unknown fields too.
type Config struct {
	Rules         []DiscoveryRule `json:"rules"`
	ResourceRules *ResourceRules  `json:"resourceRules,omitempty"`
	ExternalRules []DiscoveryRule `json:"externalRules,omitempty"`
}

// DiscoveryRule mirrors config.DiscoveryRule.
type DiscoveryRule struct {
	SeriesQuery            string                  `json:"seriesQuery"`
	SeriesFilters          []RegexFilter           `json:"seriesFilters,omitempty"`
	Resources              ResourceMapping         `json:"resources"`
	Name                   NameMapping             `json:"name"`
	MetricsQuery           string                  `json:"metricsQuery,omitempty"`
	LabelValueReplacements []LabelValueReplacement `json:"labelValueReplacements,omitempty"`
}

// LabelValueReplacement mirrors config.LabelValueReplacement.
type LabelValueReplacement struct {
	Find    string `json:"find,omitempty"`
	Replace string `json:"replace,omitempty"`
}

// RegexFilter mirrors config.RegexFilter.
type RegexFilter struct {
	Is    string `json:"is,omitempty"`
	IsNot string `json:"isNot,omitempty"`
}

// ResourceMapping mirrors config.ResourceMapping.
type ResourceMapping struct {
	Template  string                   `json:"template,omitempty"`
	Overrides map[string]GroupResource `json:"overrides,omitempty"`
}

// GroupResource mirrors config.GroupResource.
type GroupResource struct {
	Group    string `json:"group,omitempty"`
	Resource string `json:"resource"`
}

// NameMapping mirrors config.NameMapping.
type NameMapping struct {
	Matches string `json:"matches"`
	As      string `json:"as"`
}

// ResourceRules mirrors config.ResourceRules (Window is a Prometheus duration string there).
type ResourceRules struct {
	CPU    ResourceRule `json:"cpu"`
	Memory ResourceRule `json:"memory"`
	Window string       `json:"window"`
}

// ResourceRule mirrors config.ResourceRule.
type ResourceRule struct {
	ContainerQuery string          `json:"containerQuery"`
	NodeQuery      string          `json:"nodeQuery"`
	Resources      ResourceMapping `json:"resources"`
	ContainerLabel string          `json:"containerLabel"`
}

// ParseConfig decodes a prometheus-adapter config.yaml strictly, as the adapter does.
func ParseConfig(data []byte) (*Config, error) {
	var c Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("not a prometheus-adapter config.yaml: %w", err)
	}
	return &c, nil
}

// ValuesSnippet is the prometheus-community prometheus-adapter chart's values the rules-only ConfigMap
// carries under key prometheus-adapter-values.yaml: `rules.custom` only.
type ValuesSnippet struct {
	Rules struct {
		Custom []DiscoveryRule `json:"custom"`
	} `json:"rules"`
}

// ParseValuesSnippet decodes the values snippet strictly.
func ParseValuesSnippet(data []byte) (*ValuesSnippet, error) {
	var v ValuesSnippet
	if err := yaml.UnmarshalStrict(data, &v); err != nil {
		return nil, fmt.Errorf("not a rules.custom values snippet: %w", err)
	}
	return &v, nil
}
