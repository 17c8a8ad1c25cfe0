package chart_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/medical-kg/gpu-autoscaling/internal/prereq"
)

// promtoolPath finds promtool: the project's bin/ (linked by the cluster tools build) first, then PATH.
func promtoolPath(t *testing.T) string {
	t.Helper()
	if p := filepath.Join(repoRoot(t), "bin", "promtool"); fileExists(p) {
		return p
	}
	p, err := exec.LookPath("promtool")
	if err != nil {
		prereq.SkipOrFail(t, "promtool is missing: run `make cluster-tools` (links bin/promtool) or install Debian's prometheus package")
	}
	return p
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func runPromtool(t *testing.T, promtool, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "promtool %v:\n%s", args, out)
	return string(out)
}

// TestAlertRulesWithPromtool checks the rendered alerting rules (promtool check rules, annotations and all)
// and runs the unit tests in testdata/alerts.test.yaml against them.
func TestAlertRulesWithPromtool(t *testing.T) {
	t.Parallel()
	promtool := promtoolPath(t)
	recorded, rules, _ := renderRules(t, renderRequest{valuesFiles: []string{"values/production.yaml"}, extraArgs: monitoringAPIs})
	require.Len(t, rules, 5)
	require.Len(t, recorded, 2, "the pod -> service recording rules")
	names := map[string]bool{}
	for _, r := range rules {
		names[r.Alert] = true
		assert.NotEmpty(t, r.Labels["severity"], "%s: severity label", r.Alert)
		assert.NotEmpty(t, r.Annotations["summary"], "%s: summary", r.Alert)
		assert.NotEmpty(t, r.Annotations["description"], "%s: description", r.Alert)
		assert.NotEmpty(t, r.For, "%s: for", r.Alert)
	}
	for _, want := range []string{"GPUMetricsExporterDown", "GPUTemperatureHigh", "GPUServiceHPAAtMaxReplicas",
		"CustomMetricsAPIUnavailable", "GPUMetricsMissingPodLabels"} {
		assert.True(t, names[want], "alert %s missing", want)
	}

	dir := t.TempDir()
	full := map[string]any{"groups": []any{
		map[string]any{"name": "gpu-autoscaling-workloads", "rules": recorded},
		map[string]any{"name": "gpu-autoscaling", "rules": rules}}}
	writeYAML(t, filepath.Join(dir, "full-rules.yaml"), full)
	out := runPromtool(t, promtool, dir, "check", "rules", "full-rules.yaml")
	assert.Contains(t, out, "SUCCESS: 7 rules found")

	stripped := make([]ruleSpec, len(rules))
	for i, r := range rules {
		r.Annotations = nil
		stripped[i] = r
	}
	writeYAML(t, filepath.Join(dir, "rules.yaml"), map[string]any{"groups": []any{map[string]any{"name": "gpu-autoscaling", "rules": stripped}}})
	tests, err := os.ReadFile(filepath.Join("testdata", "alerts.test.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "alerts.test.yaml"), tests, 0o600))
	out = runPromtool(t, promtool, dir, "test", "rules", "alerts.test.yaml")
	assert.Contains(t, out, "SUCCESS")
}

func writeYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := yaml.Marshal(v)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o600))
}
