package rulesonly

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"helm.sh/helm/v3/pkg/releaseutil"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/deploy"
	"github.com/medical-kg/gpu-autoscaling/internal/repo"
)

// Keys of the rules-only ConfigMap.
const (
	ConfigKey = "config.yaml"
	ValuesKey = "prometheus-adapter-values.yaml"
)

// Rendered is the rules-only ConfigMap of one render.
type Rendered struct {
	Namespace, Name string
	// ConfigYAML is key config.yaml: the existing config with the chart's rules appended, or the
	// chart's rules alone when no existing config was given.
	ConfigYAML []byte
	// Config is ConfigYAML decoded strictly.
	Config *Config
	// ValuesYAML is key prometheus-adapter-values.yaml (`rules.custom`).
	ValuesYAML []byte
	// Values is ValuesYAML decoded strictly.
	Values *ValuesSnippet
}

// Render renders the chart as opts describe (release, namespace, chart, values files, --set; a relative
// values file is also looked up from the repository root) with
// adapter.mode=rulesOnly and, when existingConfig is not empty, adapter.rulesOnly.existingConfig set to
// it (the existing adapter's config.yaml), and returns the rules-only ConfigMap. The chart's refusals
// (a metric an existing rule already serves, a malformed config) come back as errors wrapping
// deploy.ErrInvalidInput. Nothing touches a cluster.
func Render(opts deploy.Options, existingConfig []byte) (*Rendered, error) {
	rulesOnly := map[string]any{}
	if len(existingConfig) > 0 {
		rulesOnly["existingConfig"] = string(existingConfig)
	}
	override, err := yaml.Marshal(map[string]any{"adapter": map[string]any{"enabled": true, "mode": "rulesOnly", "rulesOnly": rulesOnly}})
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "rulesonly-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	file := filepath.Join(dir, "values.yaml")
	if err := os.WriteFile(file, override, 0o600); err != nil {
		return nil, err
	}
	var files []string
	for _, f := range opts.ValueFiles {
		files = append(files, fromRepoRoot(f))
	}
	opts.ValueFiles = append(files, file)
	plan, err := deploy.Prepare(opts)
	if err != nil {
		return nil, err
	}
	return FromManifest(plan.Manifest)
}

// fromRepoRoot returns a relative path that does not exist from the working directory relative to the
// repository root when it exists there (values/rules-only.yaml from a test's package folder).
func fromRepoRoot(path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if root, err := repo.Root(); err == nil {
		if _, err := os.Stat(filepath.Join(root, path)); err == nil {
			return filepath.Join(root, path)
		}
	}
	return path
}

// FromManifest finds the rules-only ConfigMap (the only adapter ConfigMap in rules-only mode) in a
// rendered manifest and decodes both keys.
func FromManifest(manifest string) (*Rendered, error) {
	var found []*corev1.ConfigMap
	for _, doc := range releaseutil.SplitManifests(manifest) {
		var cm corev1.ConfigMap
		if err := yaml.Unmarshal([]byte(doc), &cm); err != nil || cm.Kind != "ConfigMap" {
			continue
		}
		if cm.Labels[contract.ComponentLabel] == "adapter" {
			found = append(found, &cm)
		}
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("want one adapter ConfigMap in the manifest, found %d (adapter.enabled, adapter.mode=rulesOnly?)", len(found))
	}
	cm := found[0]
	cfg, values := cm.Data[ConfigKey], cm.Data[ValuesKey]
	if cfg == "" || values == "" {
		return nil, errors.New("the adapter ConfigMap lacks " + ConfigKey + " or " + ValuesKey + ": not rendered in rules-only mode")
	}
	r := &Rendered{Namespace: cm.Namespace, Name: cm.Name, ConfigYAML: []byte(cfg), ValuesYAML: []byte(values)}
	var err error
	if r.Config, err = ParseConfig(r.ConfigYAML); err != nil {
		return nil, fmt.Errorf("%s/%s key %s: %w", cm.Namespace, cm.Name, ConfigKey, err)
	}
	if r.Values, err = ParseValuesSnippet(r.ValuesYAML); err != nil {
		return nil, fmt.Errorf("%s/%s key %s: %w", cm.Namespace, cm.Name, ValuesKey, err)
	}
	return r, nil
}
