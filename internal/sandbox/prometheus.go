package sandbox

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// ScrapeJob is a Prometheus scrape job of the sandbox: Kubernetes service
// discovery of one role (pod, endpoints or node) in some namespaces, relabelled.
// Up configures the annotation-driven pod job; SyncServiceMonitors adds one
// job per ServiceMonitor, as prometheus-operator would.
type ScrapeJob struct {
	Name           string
	Role           string   // pod, endpoints or node
	Namespaces     []string // empty: all
	MetricsPath    string
	Scheme         string
	HonorLabels    bool
	ScrapeInterval time.Duration
	ScrapeTimeout  time.Duration
	// Relabel are Prometheus relabel_configs applied to the targets.
	Relabel []map[string]any
	// TLSConfig and BasicAuth, when set, are Prometheus' tls_config and
	// basic_auth of the scrape (file paths: SyncServiceMonitors writes the
	// referenced Secrets' keys into the sandbox's state folder).
	TLSConfig map[string]any
	BasicAuth map[string]any
}

type promYAML struct {
	Global        map[string]string `json:"global"`
	RuleFiles     []string          `json:"rule_files,omitempty"`
	ScrapeConfigs []promScrape      `json:"scrape_configs"`
}

type promScrape struct {
	JobName        string           `json:"job_name"`
	HonorLabels    bool             `json:"honor_labels"`
	MetricsPath    string           `json:"metrics_path,omitempty"`
	Scheme         string           `json:"scheme,omitempty"`
	ScrapeInterval string           `json:"scrape_interval,omitempty"`
	ScrapeTimeout  string           `json:"scrape_timeout,omitempty"`
	StaticConfigs  []promStatic     `json:"static_configs,omitempty"`
	KubernetesSD   []promK8sSD      `json:"kubernetes_sd_configs,omitempty"`
	RelabelConfigs []map[string]any `json:"relabel_configs,omitempty"`
	TLSConfig      map[string]any   `json:"tls_config,omitempty"`
	BasicAuth      map[string]any   `json:"basic_auth,omitempty"`
}

type promStatic struct {
	Targets []string `json:"targets"`
}

type promK8sSD struct {
	Role       string          `json:"role"`
	APIServer  string          `json:"api_server"`
	TLSConfig  map[string]any  `json:"tls_config"`
	Namespaces *promNamespaces `json:"namespaces,omitempty"`
}

type promNamespaces struct {
	Names []string `json:"names"`
}

// podAnnotationJob scrapes every pod annotated prometheus.io/scrape=true, on
// the annotated port and path, with honor_labels (the conventional
// kubernetes-pods job). Its job label is the pod's app.kubernetes.io/name
// (gpu-metrics-exporter for the exporter), falling back to kubernetes-pods.
func podAnnotationJob() ScrapeJob {
	ann := func(a string) string { return "__meta_kubernetes_pod_annotation_prometheus_io_" + a }
	return ScrapeJob{Name: "kubernetes-pods", Role: "pod", MetricsPath: "/metrics", Scheme: "http", HonorLabels: true,
		Relabel: []map[string]any{
			{"source_labels": []string{ann("scrape")}, "action": "keep", "regex": "true"},
			{"source_labels": []string{ann("path")}, "action": "replace", "regex": "(.+)", "target_label": "__metrics_path__"},
			{"source_labels": []string{ann("scheme")}, "action": "replace", "regex": "(https?)", "target_label": "__scheme__"},
			{"source_labels": []string{"__address__", ann("port")}, "action": "replace", "regex": `([^:]+)(?::\d+)?;(\d+)`,
				"replacement": "$1:$2", "target_label": "__address__"},
			{"source_labels": []string{"__meta_kubernetes_namespace"}, "target_label": "namespace"},
			{"source_labels": []string{"__meta_kubernetes_pod_name"}, "target_label": "pod"},
			{"source_labels": []string{"__meta_kubernetes_pod_node_name"}, "target_label": "instance"},
			{"source_labels": []string{"__meta_kubernetes_pod_label_app_kubernetes_io_name"}, "regex": "(.+)", "target_label": "job"},
		}}
}

// cadvisorJob scrapes the real node's kubelet for its cAdvisor container
// metrics (container_cpu_usage_seconds_total,
// container_memory_working_set_bytes, with their namespace, pod and
// container labels), the conventional kubernetes-cadvisor job of
// kube-prometheus: role node, HTTPS to the kubelet with Prometheus' client
// certificate (its RBAC grants nodes/metrics), honor_labels. kwok's nodes
// have no kubelet to scrape, so only the real node is kept.
func (s *Sandbox) cadvisorJob() ScrapeJob {
	return ScrapeJob{Name: "kubernetes-cadvisor", Role: "node", MetricsPath: "/metrics/cadvisor", Scheme: "https", HonorLabels: true,
		TLSConfig: s.prometheusClientTLS(),
		Relabel: []map[string]any{
			{"source_labels": []string{"__meta_kubernetes_node_name"}, "action": "keep", "regex": regexp.QuoteMeta(s.state.Node.Name)},
			{"source_labels": []string{"__meta_kubernetes_node_name"}, "target_label": "node"},
			{"source_labels": []string{"__meta_kubernetes_node_name"}, "target_label": "instance"},
		}}
}

// apiserverJob scrapes the API server, the conventional kubernetes-apiservers
// job: the endpoints of Service default/kubernetes, HTTPS with Prometheus'
// client certificate (its RBAC grants /metrics). The chart's
// CustomMetricsAPIUnavailable alert reads its aggregator_unavailable_apiservice.
func (s *Sandbox) apiserverJob() ScrapeJob {
	return ScrapeJob{Name: "apiserver", Role: "endpoints", Namespaces: []string{metav1.NamespaceDefault}, MetricsPath: "/metrics",
		Scheme: "https", TLSConfig: s.prometheusClientTLS(),
		Relabel: []map[string]any{
			{"source_labels": []string{"__meta_kubernetes_service_name", "__meta_kubernetes_endpoint_port_name"}, "action": "keep", "regex": "kubernetes;https"},
		}}
}

// prometheusClientTLS is Prometheus' TLS towards the API server and the
// kubelet: the sandbox CA and its client certificate.
func (s *Sandbox) prometheusClientTLS() map[string]any {
	return map[string]any{"ca_file": s.pki.Path("ca.crt"), "cert_file": s.pki.Path("prometheus.crt"), "key_file": s.pki.Path("prometheus.key")}
}

func (s *Sandbox) prometheusConfigPath() string {
	return filepath.Join(s.opts.Dir, "config", "prometheus.yaml")
}

// writePrometheusConfig writes the configuration: Prometheus itself, the
// annotation-driven pod job, the API server, the ServiceMonitor jobs and, with a real node,
// its kubelet's cAdvisor.
func (s *Sandbox) writePrometheusConfig() error {
	s.mu.Lock()
	jobs := append([]ScrapeJob{podAnnotationJob(), s.apiserverJob()}, s.prom.jobs...)
	s.mu.Unlock()
	if s.state.Node != nil {
		jobs = append(jobs, s.cadvisorJob())
	}
	cfg := promYAML{
		Global: map[string]string{
			"scrape_interval":     s.opts.ScrapeInterval.String(),
			"evaluation_interval": s.opts.ScrapeInterval.String(),
		},
		// SyncRuleFiles fills the folder; an empty one loads no rules.
		RuleFiles:     []string{filepath.Join(s.rulesDir(), "*")},
		ScrapeConfigs: []promScrape{{JobName: "prometheus", StaticConfigs: []promStatic{{Targets: []string{s.prometheusAddress()}}}}},
	}
	sd := promK8sSD{APIServer: s.state.Server, TLSConfig: s.prometheusClientTLS()}
	for _, j := range jobs {
		sc := promScrape{JobName: j.Name, HonorLabels: j.HonorLabels, MetricsPath: j.MetricsPath, Scheme: j.Scheme,
			RelabelConfigs: j.Relabel, TLSConfig: j.TLSConfig, BasicAuth: j.BasicAuth}
		if j.ScrapeInterval > 0 {
			sc.ScrapeInterval = j.ScrapeInterval.String()
		}
		if j.ScrapeTimeout > 0 {
			sc.ScrapeTimeout = j.ScrapeTimeout.String()
		}
		jsd := sd
		jsd.Role = j.Role
		if len(j.Namespaces) > 0 {
			jsd.Namespaces = &promNamespaces{Names: slices.Clone(j.Namespaces)}
		}
		sc.KubernetesSD = []promK8sSD{jsd}
		cfg.ScrapeConfigs = append(cfg.ScrapeConfigs, sc)
	}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encode prometheus config: %w", err)
	}
	if err := os.WriteFile(s.prometheusConfigPath(), data, 0o644); err != nil {
		return fmt.Errorf("write prometheus config: %w", err)
	}
	return nil
}

// prometheusAddress is host:port of Prometheus: on the node IP with a real
// node (the adapter pod queries it there), else on 127.0.0.1.
func (s *Sandbox) prometheusAddress() string {
	return fmt.Sprintf("%s:%d", s.apiHost(), s.state.Ports.Prometheus)
}

func (s *Sandbox) prometheusArgs() []string {
	return []string{
		"--config.file=" + s.prometheusConfigPath(),
		"--storage.tsdb.path=" + filepath.Join(s.opts.Dir, "prometheus"),
		"--storage.tsdb.retention.time=6h",
		"--web.listen-address=" + s.prometheusAddress(),
		"--web.enable-lifecycle",
		"--log.level=warn",
	}
}

// setScrapeJobs replaces the ServiceMonitor jobs and reloads Prometheus.
func (s *Sandbox) setScrapeJobs(ctx context.Context, jobs []ScrapeJob) error {
	s.mu.Lock()
	s.prom.jobs = jobs
	s.mu.Unlock()
	if err := s.writePrometheusConfig(); err != nil {
		return err
	}
	return s.reloadPrometheus(ctx)
}

// reloadPrometheus makes Prometheus re-read its configuration and rule files.
func (s *Sandbox) reloadPrometheus(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.PrometheusURL()+"/-/reload", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reload prometheus: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reload prometheus: %s (see %s)", resp.Status, filepath.Join(s.logDir(), "prometheus.log"))
	}
	return nil
}

type promConfig struct {
	jobs []ScrapeJob
}
