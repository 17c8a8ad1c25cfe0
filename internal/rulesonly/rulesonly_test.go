package rulesonly

import (
	"errors"
	"strings"
	"testing"

	"github.com/medical-kg/gpu-autoscaling/internal/deploy"
)

const existing = `rules:
- seriesQuery: 'http_requests_total{namespace!="",pod!=""}'
  resources: {overrides: {namespace: {resource: namespace}, pod: {resource: pod}}}
  name: {matches: "^(.*)_total$", as: "${1}_per_second"}
  metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)'
externalRules:
- seriesQuery: '{__name__="queue_messages_ready"}'
  resources: {template: <<.Resource>>}
  name: {matches: "", as: queue_depth}
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>})'
`

// options names the values file relative to the repository root, as an end-to-end test would.
func options(t *testing.T) deploy.Options {
	t.Helper()
	return deploy.Options{ValueFiles: []string{"values/rules-only.yaml"}}
}

func TestRenderMergesIntoTheExistingConfig(t *testing.T) {
	own, err := Render(options(t), nil)
	if err != nil {
		t.Fatalf("Render without an existing config: %v", err)
	}
	if own.Namespace != "monitoring" || own.Name != "gpu-autoscaling-adapter-rules" {
		t.Errorf("ConfigMap %s/%s, want monitoring/gpu-autoscaling-adapter-rules", own.Namespace, own.Name)
	}
	if len(own.Config.Rules) == 0 || len(own.Values.Rules.Custom) != len(own.Config.Rules) {
		t.Fatalf("chart rules %d, snippet rules %d", len(own.Config.Rules), len(own.Values.Rules.Custom))
	}
	merged, err := Render(options(t), []byte(existing))
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if got, want := len(merged.Config.Rules), 1+len(own.Config.Rules); got != want {
		t.Fatalf("merged rules %d, want %d", got, want)
	}
	if r := merged.Config.Rules[0]; r.Name.As != "${1}_per_second" {
		t.Errorf("first rule %+v, want the existing one", r)
	}
	if merged.Config.Rules[1].SeriesQuery != own.Config.Rules[0].SeriesQuery {
		t.Errorf("chart rules not appended after the existing one")
	}
	if len(merged.Config.ExternalRules) != 1 || merged.Config.ExternalRules[0].Name.As != "queue_depth" {
		t.Errorf("externalRules %+v, want the existing one", merged.Config.ExternalRules)
	}
}

func TestRenderRefusesACollision(t *testing.T) {
	colliding := `rules:
- seriesQuery: '{__name__=~"gpu_.*",pod!=""}'
  resources: {template: <<.Resource>>}
  name: {matches: "", as: ""}
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
`
	_, err := Render(options(t), []byte(colliding))
	if err == nil || !errors.Is(err, deploy.ErrInvalidInput) || !strings.Contains(err.Error(), "already serves the metric gpu_utilization_percent") {
		t.Fatalf("err = %v, want the collision refused", err)
	}
}

func TestParseConfigIsStrict(t *testing.T) {
	if _, err := ParseConfig([]byte("rules: []\nrule: []\n")); err == nil {
		t.Error("an unknown key was accepted")
	}
	if _, err := ParseConfig([]byte("rules:\n- seriesQuery: x\n  name: {matches: a, as: b, typo: c}\n")); err == nil {
		t.Error("an unknown rule field was accepted")
	}
}

func TestFromManifestWantsTheRulesOnlyConfigMap(t *testing.T) {
	full, err := deploy.Prepare(deploy.Options{})
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if _, err := FromManifest(full.Manifest); err == nil || !strings.Contains(err.Error(), "rules-only") {
		t.Errorf("full mode: err = %v, want a rules-only complaint", err)
	}
}
