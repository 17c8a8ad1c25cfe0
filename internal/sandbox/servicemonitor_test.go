package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
	jobs, err := scrapeJobsFromServiceMonitor(context.Background(), sm, noFiles(t))
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
	if jobs, err := scrapeJobsFromServiceMonitor(context.Background(), sm, noFiles(t)); err != nil || len(jobs) != 2 || jobs[0].HonorLabels || jobs[0].Namespaces != nil ||
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
		if _, err := scrapeJobsFromServiceMonitor(context.Background(), serviceMonitorFrom(t, doc), noFiles(t)); err == nil || !strings.Contains(err.Error(), "ServiceMonitor /m") {
			t.Errorf("%s: got error %v, want one naming ServiceMonitor /m", name, err)
		}
	}
}

// noFiles is a keyFile for ServiceMonitors that reference no Secret.
func noFiles(t *testing.T) keyFile {
	return func(_ context.Context, kind, ns, name, key string) (string, error) {
		t.Errorf("unexpected read of %s %s/%s key %s", kind, ns, name, key)
		return "", errors.New("no files here")
	}
}

func TestScrapeJobsTranslateTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	store := map[string][]byte{
		"secret/medical-kg/exporter-tls/ca.crt":  []byte("CA PEM"),
		"secret/medical-kg/scrape-auth/username": []byte("prometheus"),
		"secret/medical-kg/scrape-auth/password": []byte("s3cret"),
		"configMap/medical-kg/ca-bundle/ca.crt":  []byte("CA FROM CONFIGMAP"),
	}
	files := &secretFiles{dir: filepath.Join(dir, "scrape-secrets"), get: func(_ context.Context, kind, ns, name, key string) ([]byte, error) {
		if v, ok := store[kind+"/"+ns+"/"+name+"/"+key]; ok {
			return v, nil
		}
		return nil, fmt.Errorf("%s %s/%s has no key %s", kind, ns, name, key)
	}}
	sm := serviceMonitorFrom(t, `
metadata: {name: exporter, namespace: medical-kg}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: gpu-metrics-exporter}}
  endpoints:
    - port: metrics
      scheme: https
      tlsConfig:
        ca: {secret: {name: exporter-tls, key: ca.crt}}
        serverName: gpu-autoscaling-gpu-metrics-exporter.medical-kg.svc
      basicAuth:
        username: {name: scrape-auth, key: username}
        password: {name: scrape-auth, key: password}
    - port: metrics
      scheme: https
      tlsConfig: {insecureSkipVerify: true, ca: {configMap: {name: ca-bundle, key: ca.crt}}}
`)
	jobs, err := scrapeJobsFromServiceMonitor(context.Background(), sm, files.write)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("got %d jobs, %v; want 2", len(jobs), err)
	}
	read := func(path any) string {
		t.Helper()
		p, _ := path.(string)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("file %v: %v", path, err)
		}
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", p, st.Mode().Perm())
		}
		return string(data)
	}
	j := jobs[0]
	if j.Scheme != "https" || j.TLSConfig["server_name"] != "gpu-autoscaling-gpu-metrics-exporter.medical-kg.svc" ||
		read(j.TLSConfig["ca_file"]) != "CA PEM" || len(j.TLSConfig) != 2 {
		t.Errorf("tls_config %v", j.TLSConfig)
	}
	if read(j.BasicAuth["username_file"]) != "prometheus" || read(j.BasicAuth["password_file"]) != "s3cret" || len(j.BasicAuth) != 2 {
		t.Errorf("basic_auth %v", j.BasicAuth)
	}
	if j := jobs[1]; j.TLSConfig["insecure_skip_verify"] != true || read(j.TLSConfig["ca_file"]) != "CA FROM CONFIGMAP" || j.BasicAuth != nil {
		t.Errorf("second endpoint: tls_config %v, basic_auth %v", j.TLSConfig, j.BasicAuth)
	}

	for name, doc := range map[string]string{
		"missing secret key":     `{metadata: {name: m, namespace: medical-kg}, spec: {endpoints: [{port: a, basicAuth: {username: {name: scrape-auth, key: user}, password: {name: scrape-auth, key: password}}}]}}`,
		"password only":          `{metadata: {name: m, namespace: medical-kg}, spec: {endpoints: [{port: a, basicAuth: {password: {name: scrape-auth, key: password}}}]}}`,
		"selector without a key": `{metadata: {name: m, namespace: medical-kg}, spec: {endpoints: [{port: a, tlsConfig: {ca: {secret: {name: exporter-tls}}}}]}}`,
		"unknown tls field":      `{metadata: {name: m, namespace: medical-kg}, spec: {endpoints: [{port: a, tlsConfig: {minVersion: TLS13}}]}}`,
		"authorization":          `{metadata: {name: m, namespace: medical-kg}, spec: {endpoints: [{port: a, authorization: {type: Bearer}}]}}`,
	} {
		if _, err := scrapeJobsFromServiceMonitor(context.Background(), serviceMonitorFrom(t, doc), files.write); err == nil ||
			!strings.Contains(err.Error(), "ServiceMonitor medical-kg/m") {
			t.Errorf("%s: got error %v, want one naming ServiceMonitor medical-kg/m", name, err)
		}
	}
}

func TestPrometheusConfigCarriesTLSAndBasicAuth(t *testing.T) {
	sc := promScrape{JobName: "j", Scheme: "https", TLSConfig: map[string]any{"ca_file": "/s/ca", "server_name": "x"},
		BasicAuth: map[string]any{"username_file": "/s/u", "password_file": "/s/p"}}
	data, err := yaml.Marshal(sc)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tls_config:\n  ca_file: /s/ca\n  server_name: x\n", "basic_auth:\n  password_file: /s/p\n  username_file: /s/u\n", "scheme: https"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("scrape config %s lacks %q", data, want)
		}
	}
	data, _ = yaml.Marshal(promScrape{JobName: "plain"})
	if strings.Contains(string(data), "tls_config") || strings.Contains(string(data), "basic_auth") {
		t.Errorf("plain scrape config %s carries TLS or auth", data)
	}
}
