package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func rulesCM(ns, name string, data map[string]string) corev1.ConfigMap {
	return corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: data}
}

func TestRuleFilesValidatesEachKey(t *testing.T) {
	good := "groups:\n- name: g\n  rules:\n  - alert: Up\n    expr: up == 0\n    for: 1m\n"
	files, err := ruleFiles([]corev1.ConfigMap{rulesCM("medical-kg", "gpu-autoscaling-alert-rules", map[string]string{"a.rules.yaml": good})})
	if err != nil {
		t.Fatal(err)
	}
	if string(files["medical-kg_gpu-autoscaling-alert-rules_a.rules.yaml"]) != good || len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	for name, bad := range map[string]string{
		"bad expression": "groups:\n- name: g\n  rules:\n  - alert: Up\n    expr: up ==\n",
		"unknown field":  "groups:\n- name: g\n  rules:\n  - alert: Up\n    expr: up == 0\n    fro: 1m\n",
		"no name":        "groups:\n- rules:\n  - alert: Up\n    expr: up == 0\n",
	} {
		_, err := ruleFiles([]corev1.ConfigMap{rulesCM("ns", "cm", map[string]string{"bad.yaml": bad})})
		if err == nil || !strings.Contains(err.Error(), "ConfigMap ns/cm key bad.yaml is not a valid Prometheus rules file") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestReplaceFilesKeepsExactlyTheGivenFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rules")
	if err := replaceFiles(dir, map[string][]byte{"old": []byte("1"), "kept": []byte("2")}); err != nil {
		t.Fatal(err)
	}
	if err := replaceFiles(dir, map[string][]byte{"kept": []byte("3"), "new": []byte("4")}); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		got = append(got, e.Name()+"="+string(b))
	}
	if strings.Join(got, ",") != "kept=3,new=4" {
		t.Fatalf("rules folder holds %v, want kept=3,new=4", got)
	}
}
