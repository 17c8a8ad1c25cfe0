package sandbox

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func serviceMonitorFrom(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

// relabelIndex finds the first relabel config matching all of want.
func relabelIndex(rel []map[string]any, want map[string]any) int {
	for i, r := range rel {
		match := true
		for k, v := range want {
			if got, ok := r[k]; !ok || yamlString(got) != yamlString(v) {
				match = false
			}
		}
		if match {
			return i
		}
	}
	return -1
}

func yamlString(v any) string {
	b, _ := yaml.Marshal(v)
	return string(b)
}

func TestScrapeJobsFromServiceMonitor(t *testing.T) {
	sm := serviceMonitorFrom(t, `
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: gpu-autoscaling-gpu-metrics-exporter, namespace: medical-kg}
spec:
  namespaceSelector: {matchNames: [medical-kg]}
  selector:
    matchLabels: {app.kubernetes.io/name: gpu-metrics-exporter, app.kubernetes.io/instance: gpu-autoscaling}
  endpoints:
    - port: metrics
      path: /metrics
      scheme: http
      honorLabels: true
      interval: 5s
      scrapeTimeout: 4s
      relabelings:
        - {action: replace, targetLabel: job, replacement: gpu-metrics-exporter}
        - {action: LabelDrop, regex: (pod|namespace|container)}
`)
	jobs, err := scrapeJobsFromServiceMonitor(sm)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("got %d jobs, %v; want 1", len(jobs), err)
	}
	job := jobs[0]
	if job.Name != "serviceMonitor/medical-kg/gpu-autoscaling-gpu-metrics-exporter/0" || job.Role != "endpoints" ||
		strings.Join(job.Namespaces, ",") != "medical-kg" || job.MetricsPath != "/metrics" || job.Scheme != "http" ||
		!job.HonorLabels || job.ScrapeInterval != 5*time.Second || job.ScrapeTimeout != 4*time.Second {
		t.Errorf("job %+v", job)
	}
	keepName := relabelIndex(job.Relabel, map[string]any{"action": "keep",
		"source_labels": []string{"__meta_kubernetes_service_label_app_kubernetes_io_name"}, "regex": "gpu-metrics-exporter"})
	keepPort := relabelIndex(job.Relabel, map[string]any{"action": "keep",
		"source_labels": []string{"__meta_kubernetes_endpoint_port_name"}, "regex": "metrics"})
	podLabel := relabelIndex(job.Relabel, map[string]any{"source_labels": []string{"__meta_kubernetes_pod_name"}, "target_label": "pod"})
	jobLabel := relabelIndex(job.Relabel, map[string]any{"target_label": "job", "replacement": "gpu-metrics-exporter"})
	drop := relabelIndex(job.Relabel, map[string]any{"action": "labeldrop", "regex": "(pod|namespace|container)"})
	if keepName < 0 || keepPort < 0 || podLabel < 0 || jobLabel < 0 || drop < 0 {
		t.Fatalf("relabel_configs %v: want the Service selector, the port, the target labels and the ServiceMonitor's relabelings", job.Relabel)
	}
	if !(podLabel < jobLabel && jobLabel < drop) {
		t.Errorf("the ServiceMonitor's relabelings must come after the operator's target labels: %v", job.Relabel)
	}

	// honorLabels false must come through as false: it is what breaks HPAs.
	sm = serviceMonitorFrom(t, `
metadata: {name: m, namespace: ns}
spec: {namespaceSelector: {any: true}, endpoints: [{port: metrics, honorLabels: false}, {port: other}]}
`)
	if jobs, err := scrapeJobsFromServiceMonitor(sm); err != nil || len(jobs) != 2 || jobs[0].HonorLabels || jobs[0].Namespaces != nil ||
		jobs[1].Name != "serviceMonitor/ns/m/1" {
		t.Errorf("got %+v, %v; want two jobs, honor_labels false, all namespaces", jobs, err)
	}

	for name, doc := range map[string]string{
		"no endpoints":           `{metadata: {name: m}, spec: {}}`,
		"bad interval":           `{metadata: {name: m}, spec: {endpoints: [{port: a, interval: soon}]}}`,
		"untranslated relabel":   `{metadata: {name: m}, spec: {endpoints: [{port: a, relabelings: [{action: drop, sourceLabels: [x], magic: 1}]}]}}`,
		"metric relabelings set": `{metadata: {name: m}, spec: {endpoints: [{port: a, metricRelabelings: [{action: drop}]}]}}`,
		"match expressions":      `{metadata: {name: m}, spec: {selector: {matchExpressions: [{key: a, operator: Exists}]}, endpoints: [{port: a}]}}`,
	} {
		if _, err := scrapeJobsFromServiceMonitor(serviceMonitorFrom(t, doc)); err == nil || !strings.Contains(err.Error(), "ServiceMonitor /m") {
			t.Errorf("%s: got error %v, want one naming ServiceMonitor /m", name, err)
		}
	}
}
