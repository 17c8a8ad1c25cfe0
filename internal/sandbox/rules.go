package sandbox

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RulesConfigMapLabel selects the ConfigMaps whose keys the sandbox
// Prometheus loads as rule files (value "true"), as a Prometheus without
// prometheus-operator loads the rules ConfigMaps mounted into its rule_files.
// values/sandbox.yaml puts it on the chart's rules ConfigMap
// (prometheusRule.labels).
const RulesConfigMapLabel = "sandbox.gpu-autoscaling.io/prometheus-rules"

func (s *Sandbox) rulesDir() string { return filepath.Join(s.opts.Dir, "config", "rules") }

// SyncRuleFiles loads every key of the ConfigMaps labelled
// RulesConfigMapLabel=true (any namespace) into the sandbox Prometheus as a
// rule file, and reloads it; files of ConfigMaps gone are removed. Each file
// is validated as Prometheus would (rulefmt) first: an invalid one is an
// error naming its ConfigMap and key, and the rules loaded before stay.
func (s *Sandbox) SyncRuleFiles(ctx context.Context) error {
	cs, err := s.Clientset()
	if err != nil {
		return err
	}
	list, err := cs.CoreV1().ConfigMaps(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: RulesConfigMapLabel + "=true"})
	if err != nil {
		return fmt.Errorf("list rules ConfigMaps: %w", err)
	}
	files, err := ruleFiles(list.Items)
	if err != nil {
		return err
	}
	if err := replaceFiles(s.rulesDir(), files); err != nil {
		return err
	}
	return s.reloadPrometheus(ctx)
}

// ruleFiles maps file names (namespace_configmap_key) to the validated rules
// of each ConfigMap key.
func ruleFiles(cms []corev1.ConfigMap) (map[string][]byte, error) {
	files := map[string][]byte{}
	p := parser.NewParser(parser.Options{})
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, cm := range cms {
		for key, data := range cm.Data {
			if _, errs := rulefmt.Parse([]byte(data), false, model.UTF8Validation, p, quiet); len(errs) > 0 {
				msgs := make([]string, len(errs))
				for i, e := range errs {
					msgs[i] = e.Error()
				}
				return nil, fmt.Errorf("ConfigMap %s/%s key %s is not a valid Prometheus rules file: %s",
					cm.Namespace, cm.Name, key, strings.Join(msgs, "; "))
			}
			files[cm.Namespace+"_"+cm.Name+"_"+key] = []byte(data)
		}
	}
	return files, nil
}

// replaceFiles makes dir hold exactly files (name → content).
func replaceFiles(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range old {
		if _, keep := files[e.Name()]; !keep {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			return fmt.Errorf("write rule file: %w", err)
		}
	}
	return nil
}
