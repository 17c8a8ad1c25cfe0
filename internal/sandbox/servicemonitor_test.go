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

func TestScrapeJobFromServiceMonitor(t *testing.T) {
	sm := serviceMonitorFrom(t, `
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: gpu-autoscaling-gpu-metrics-exporter, namespace: medical-kg}
spec:
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
	job, err := scrapeJobFromServiceMonitor(sm)
	if err != nil {
		t.Fatal(err)
	}
	want := ScrapeJob{Name: "gpu-metrics-exporter", MetricsPath: "/metrics", Scheme: "http", HonorLabels: true,
		ScrapeInterval: 5 * time.Second, ScrapeTimeout: 4 * time.Second}
	if job.Name != want.Name || job.MetricsPath != want.MetricsPath || job.Scheme != want.Scheme ||
		job.HonorLabels != want.HonorLabels || job.ScrapeInterval != want.ScrapeInterval || job.ScrapeTimeout != want.ScrapeTimeout {
		t.Errorf("got %+v, want %+v", job, want)
	}
	if len(job.Relabel) != 2 || job.Relabel[0]["target_label"] != "job" || job.Relabel[1]["action"] != "labeldrop" ||
		job.Relabel[1]["regex"] != "(pod|namespace|container)" {
		t.Errorf("relabel_configs = %v; want the job replace and a lower-cased labeldrop", job.Relabel)
	}

	// honorLabels false must come through as false: it is what breaks HPAs.
	sm = serviceMonitorFrom(t, `
metadata: {name: m}
spec: {endpoints: [{port: metrics, honorLabels: false}]}
`)
	if job, err := scrapeJobFromServiceMonitor(sm); err != nil || job.HonorLabels || job.Name != "m" {
		t.Errorf("got %+v, %v; want honor_labels false and job named after the ServiceMonitor", job, err)
	}

	for name, doc := range map[string]string{
		"no endpoints":           `{metadata: {name: m}, spec: {}}`,
		"two endpoints":          `{metadata: {name: m}, spec: {endpoints: [{port: a}, {port: b}]}}`,
		"bad interval":           `{metadata: {name: m}, spec: {endpoints: [{port: a, interval: soon}]}}`,
		"untranslated relabel":   `{metadata: {name: m}, spec: {endpoints: [{port: a, relabelings: [{action: drop, sourceLabels: [x], magic: 1}]}]}}`,
		"metric relabelings set": `{metadata: {name: m}, spec: {endpoints: [{port: a, metricRelabelings: [{action: drop}]}]}}`,
	} {
		if _, err := scrapeJobFromServiceMonitor(serviceMonitorFrom(t, doc)); err == nil || !strings.Contains(err.Error(), "ServiceMonitor m") {
			t.Errorf("%s: got error %v, want one naming ServiceMonitor m", name, err)
		}
	}
}
