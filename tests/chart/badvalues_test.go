package chart_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// badValue is a values override the chart must refuse, and the words its error must contain: the
// location of the mistake and what is expected there.
type badValue struct {
	name   string
	values string
	want   []string
	// skipSchema renders with --skip-schema-validation to prove the template-time check catches the
	// mistake on its own (defence in depth for users who disable the schema).
	skipSchema bool
	// chart is the chart folder under charts/ (default gpu-autoscaling).
	chart string
}

// Names of the capture groups in the schemas' patterns: helm prints a failed pattern but never a schema's
// description, so each pattern carries what to write in a named group, and the table checks that it shows.
const (
	durationHint  = "a_Go_duration_with_a_unit_like_30s_or_1m30s"
	cidrHint      = "an_IPv4_CIDR_like_10_0_0_0_slash_8_with_prefix_up_to_32_or_IPv6_with_prefix_up_to_128"
	subdomainHint = "empty_or_a_DNS_subdomain_of_lowercase_letters_digits_dashes_and_dots"
	memoryHint    = "a_memory_quantity_like_64Mi_or_1Gi"
	namespaceHint = "empty_or_a_namespace_of_lowercase_letters_digits_and_dashes"
)

// badValueCases is the table of rejected values.
func badValueCases() []badValue {
	ca, caKey := newCAPEM()
	caB64 := base64.StdEncoding.EncodeToString([]byte(ca))
	return []badValue{
		// Unknown keys: strict schema everywhere.
		{name: "unknown top-level key", values: "autoscaling: {}\n",
			want: []string{"at ''", "additional properties 'autoscaling' not allowed"}},
		{name: "unknown key in a service", values: "services:\n  embedding-service:\n    minPods: 2\n",
			want: []string{"/services/embedding-service", "additional properties 'minPods' not allowed"}},
		{name: "unknown target", values: "services:\n  embedding-service:\n    targets:\n      gpuTemp: 80\n",
			want: []string{"/services/embedding-service/targets", "additional properties 'gpuTemp' not allowed"}},
		{name: "unknown key in exporter", values: "exporter:\n  interval: 30s\n",
			want: []string{"exporter:", "additional properties 'interval' not allowed"}},
		{name: "unknown key in adapter", values: "adapter:\n  prometheusUrl: http://p:9090\n",
			want: []string{"adapter:", "additional properties 'prometheusUrl' not allowed"}},
		{name: "unknown key in networkPolicy", values: "networkPolicy:\n  ingress: []\n",
			want: []string{"/networkPolicy", "additional properties 'ingress' not allowed"}},
		{name: "service name not a DNS label", values: "services:\n  Embedding_Service:\n    targets:\n      cpuUtilization: 70\n",
			want: []string{"services.Embedding_Service: a service name must be a lowercase DNS label", "rename the key"}},
		{name: "service name too long for <name>-hpa", values: "services:\n  " + strings.Repeat("a", 60) + ":\n    targets:\n      cpuUtilization: 70\n",
			want: []string{"of at most 59 characters"}},

		// Wrong types.
		{name: "maxReplicas as a string", values: "services:\n  embedding-service:\n    maxReplicas: ten\n",
			want: []string{"/services/embedding-service/maxReplicas", "got string, want integer"}},
		{name: "enabled as a string", values: "services:\n  reranking-service:\n    enabled: \"no\"\n",
			want: []string{"/services/reranking-service/enabled", "got string, want boolean"}},
		{name: "behavior policies not a list", values: "behavior:\n  scaleUp:\n    policies: {type: Pods}\n",
			want: []string{"/behavior/scaleUp/policies", "got object, want array"}},
		{name: "exporter port as a string", values: "exporter:\n  port: metrics\n",
			want: []string{"/port", "got string, want integer"}},

		// Out of range / bad enums and formats.
		{name: "minReplicas 0", values: "services:\n  embedding-service:\n    minReplicas: 0\n",
			want: []string{"/services/embedding-service/minReplicas", "minimum: got 0, want 1"}},
		{name: "cpu threshold above 100", values: "services:\n  embedding-service:\n    targets:\n      cpuUtilization: 150\n",
			want: []string{"/services/embedding-service/targets/cpuUtilization", "maximum: got 150, want 100"}},
		{name: "gpu threshold 0", values: "services:\n  reranking-service:\n    targets:\n      gpuUtilization: 0\n",
			want: []string{"/services/reranking-service/targets/gpuUtilization", "minimum: got 0, want 1"}},
		{name: "negative GPU memory target", values: "services:\n  docling-vlm-service:\n    targets:\n      gpuMemoryMB: -1\n",
			want: []string{"/services/docling-vlm-service/targets/gpuMemoryMB", "minimum: got -1, want 1"}},
		{name: "stabilization window above the API limit", values: "behavior:\n  scaleDown:\n    stabilizationWindowSeconds: 7200\n",
			want: []string{"/behavior/scaleDown/stabilizationWindowSeconds", "maximum: got 7,200, want 3,600"}},
		{name: "unknown policy type", values: "behavior:\n  scaleUp:\n    policies:\n      - {type: Replicas, value: 2, periodSeconds: 60}\n",
			want: []string{"/behavior/scaleUp/policies/0/type", "value must be one of 'Pods', 'Percent'"}},
		{name: "policy period above 1800 s", values: "behavior:\n  scaleUp:\n    policies:\n      - {type: Pods, value: 2, periodSeconds: 3600}\n",
			want: []string{"/behavior/scaleUp/policies/0/periodSeconds", "maximum: got 3,600, want 1,800"}},
		{name: "bad selectPolicy", values: "services:\n  embedding-service:\n    behavior:\n      scaleDown:\n        selectPolicy: Fastest\n",
			want: []string{"/services/embedding-service/behavior/scaleDown/selectPolicy", "value must be one of"}},
		{name: "exporter collection interval not a duration", values: "exporter:\n  collectionInterval: fast\n",
			want: []string{"/collectionInterval", "does not match pattern", durationHint}},
		{name: "exporter collection interval under 1s", values: "exporter:\n  collectionInterval: 500ms\n",
			want: []string{"exporter.collectionInterval=500ms", "at least 1s"}},
		{name: "pod-resources timeout not shorter than the interval", values: "exporter:\n  collectionInterval: 15s\n  podResources:\n    timeout: 15s\n",
			want: []string{"exporter.podResources.timeout=15s must be shorter than exporter.collectionInterval=15s"}},
		{name: "ServiceMonitor scrape timeout above its interval", values: "exporter:\n  serviceMonitor:\n    interval: 5s\n    scrapeTimeout: 1m\n",
			want: []string{"exporter.serviceMonitor.scrapeTimeout=1m is longer than exporter.serviceMonitor.interval=5s", "lower the timeout"}},
		{name: "unknown exporter backend", values: "exporter:\n  backend: dcgm\n",
			want: []string{"/backend", "value must be one of 'nvml', 'simulated'"}},
		{name: "simulated GPU index beyond the model's 8 devices", values: "exporter:\n  backend: simulated\n  simulation:\n    gpus:\n      - index: 8\n",
			want: []string{"exporter.simulation.gpus[0]: index 8 is beyond the 8 simulated GPUs", "raise exporter.simulation.gpuCount"}},
		{name: "simulated GPU index beyond gpuCount", values: "exporter:\n  backend: simulated\n  simulation:\n    gpuCount: 4\n    gpus:\n      - index: 4\n",
			want: []string{"index 4 is beyond the 4 simulated GPUs (indexes 0..3)"}},
		{name: "simulated GPU count above 64", values: "exporter:\n  backend: simulated\n  simulation:\n    gpuCount: 65\n",
			want: []string{"/simulation/gpuCount", "maximum: got 65, want 64"}},
		{name: "prometheus URL without scheme", values: "adapter:\n  prometheus:\n    url: prometheus.monitoring:9090\n",
			want: []string{"/prometheus/url", "does not match pattern", "a_URL_with_scheme_like_http_colon_slash_slash_prometheus_monitoring_9090"}},
		{name: "adapter mode typo", values: "adapter:\n  mode: rules-only\n",
			want: []string{"/mode", "value must be one of 'full', 'rulesOnly'"}},
		{name: "adapter replicas 0", values: "adapter:\n  replicas: 0\n",
			want: []string{"/replicas", "minimum: got 0, want 1"}},
		{name: "adapter privileged port", values: "adapter:\n  securePort: 443\n",
			want: []string{"/securePort", "minimum: got 443, want 1,024"}},
		{name: "adapter rule aggregation", values: "adapter:\n  rules:\n    podGPUMetrics:\n      - {series: gpu_utilization_percent, aggregation: mean}\n",
			want: []string{"/rules/podGPUMetrics/0/aggregation", "value must be one of"}},
		{name: "privilege escalation allowed", values: "exporter:\n  securityContext:\n    allowPrivilegeEscalation: true\n",
			want: []string{"/securityContext/allowPrivilegeEscalation", "value must be false"}},
		{name: "alert severity", values: "prometheusRule:\n  alerts:\n    exporterDown:\n      severity: page\n",
			want: []string{"/prometheusRule/alerts/exporterDown/severity", "value must be one of"}},
		{name: "GPU temperature threshold out of range", values: "prometheusRule:\n  alerts:\n    gpuTemperatureHigh:\n      thresholdCelsius: 250\n",
			want: []string{"/prometheusRule/alerts/gpuTemperatureHigh/thresholdCelsius", "maximum: got 250, want 120"}},
		{name: "dashboard label empty", values: "dashboards:\n  label: \"\"\n",
			want: []string{"/dashboards/label", "minLength"}},
		{name: "API server CIDR malformed", values: "networkPolicy:\n  adapter:\n    apiServerCIDRs: [\"10.0.0.1\"]\n",
			want: []string{"/networkPolicy/adapter/apiServerCIDRs/0", "does not match pattern", cidrHint}},

		// Cross-field rules, checked at render time with messages naming the service and the field.
		{name: "minReplicas above maxReplicas", values: "services:\n  embedding-service:\n    minReplicas: 12\n",
			want: []string{"services.embedding-service: minReplicas (12) is greater than maxReplicas (10)", "lower services.embedding-service.minReplicas or raise services.embedding-service.maxReplicas"}},
		{name: "new service with a min above the default max", values: "services:\n  ocr-service:\n    minReplicas: 11\n    targets:\n      cpuUtilization: 60\n",
			want: []string{"services.ocr-service: minReplicas (11) is greater than maxReplicas (10)"}},
		{name: "HPA without any metric", values: "services:\n  ocr-service:\n    minReplicas: 1\n",
			want: []string{"services.ocr-service.targets: the HPA has no metric to scale on", "set at least one of cpuUtilization"}},
		{name: "all default targets removed", values: "services:\n  gpu-management-service:\n    targets:\n      cpuUtilization: null\n      memoryUtilization: null\n",
			want: []string{"services.gpu-management-service.targets: the HPA has no metric to scale on"}},
		{name: "threshold out of range caught without the schema", skipSchema: true,
			values: "services:\n  embedding-service:\n    targets:\n      memoryUtilization: 180\n",
			want:   []string{"services.embedding-service.targets.memoryUtilization: 180 is not a percentage threshold", "use a value from 1 to 100"}},
		{name: "min above max caught without the schema", skipSchema: true,
			values: "services:\n  reranking-service:\n    minReplicas: 5\n    maxReplicas: 3\n",
			want:   []string{"services.reranking-service: minReplicas (5) is greater than maxReplicas (3)"}},
		{name: "request-rate target without the adapter rule", values: "services:\n  embedding-service:\n    targets:\n      requestsPerSecond: 50\n",
			want: []string{"services.embedding-service.targets.requestsPerSecond needs adapter.rules.requestRate.enabled=true"}},
		{name: "GPU target whose metric the adapter does not serve",
			values: "adapter:\n  rules:\n    podGPUMetrics:\n      - {series: gpu_memory_usage_mb, aggregation: sum}\n",
			want:   []string{".targets.gpuUtilization scales on gpu_utilization_percent, which adapter.rules.podGPUMetrics does not serve"}},
		{name: "scale-up without policies", values: "behavior:\n  scaleUp:\n    policies: null\n",
			want: []string{"behavior.scaleUp: no policies", "give at least one policy or set selectPolicy: Disabled"}},
		{name: "ExternalName port differs from the secure port", values: "adapter:\n  service:\n    externalName: localhost\n",
			want: []string{"adapter.service.port (443) must equal adapter.securePort (6443) when adapter.service.externalName is set"}},
		{name: "TLS source typo", values: "adapter:\n  tls:\n    source: existingsecret\n",
			want: []string{"/tls/source", "value must be one of 'helm', 'certManager', 'existingSecret'"}},
		{name: "unknown key in tls.existingSecret", values: "adapter:\n  tls:\n    existingSecret:\n      key: tls.key\n",
			want: []string{"/tls/existingSecret", "additional properties 'key' not allowed"}},
		{name: "existingSecret without a Secret name", values: "adapter:\n  tls:\n    source: existingSecret\n",
			want: []string{"/tls/existingSecret/name", "minLength: got 0, want 1"}},
		{name: "existingSecret without a Secret name caught without the schema", skipSchema: true,
			values: existingSecretValues("", ca),
			want:   []string{"adapter.tls.existingSecret.name is empty", "set it to the kubernetes.io/tls Secret (keys tls.crt, tls.key) in namespace medical-kg"}},
		{name: "existingSecret without a caBundle", values: existingSecretValues(userSecret, ""),
			want: []string{"adapter.tls.existingSecret.caBundle is empty", "give the PEM text of the CA that signed the tls.crt of Secret " + userSecret}},
		{name: "existingSecret caBundle not a PEM certificate", values: existingSecretValues(userSecret, "ca.crt"),
			want: []string{"adapter.tls.existingSecret.caBundle is not a PEM certificate", "give one or more -----BEGIN CERTIFICATE-----"}},
		{name: "existingSecret caBundle with a broken PEM body", values: existingSecretValues(userSecret, "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"),
			want: []string{"adapter.tls.existingSecret.caBundle is not a PEM certificate"}},
		{name: "existingSecret caBundle base64-encoded", values: existingSecretValues(userSecret, caB64),
			want: []string{"adapter.tls.existingSecret.caBundle looks base64-encoded", "give the PEM text itself"}},
		{name: "existingSecret caBundle is a private key", values: existingSecretValues(userSecret, caKey),
			want: []string{"adapter.tls.existingSecret.caBundle holds a private key", "give only the CA certificate"}},
		{name: "existingSecret caBundle with insecureSkipTLSVerify",
			values: adapterValues(map[string]any{
				"tls":        map[string]any{"source": "existingSecret", "existingSecret": map[string]any{"name": userSecret, "caBundle": ca}},
				"apiService": map[string]any{"insecureSkipTLSVerify": true},
			}),
			want: []string{"adapter.apiService.insecureSkipTLSVerify=true makes the aggregator ignore it", "set adapter.apiService.insecureSkipTLSVerify=false"}},
		{name: "existingSecret named like the chart's own Secret", values: existingSecretValues(adapterName+"-tls", ca),
			want: []string{"adapter.tls.existingSecret.name=" + adapterName + "-tls is the Secret this chart owns", "create your Secret under another name"}},
		{name: "existingSecret set while tls.source is helm", values: "adapter:\n  tls:\n    existingSecret:\n      name: " + userSecret + "\n",
			want: []string{"adapter.tls.existingSecret is set but adapter.tls.source=helm ignores it", "set adapter.tls.source=existingSecret"}},
		{name: "PDB with both bounds", values: "adapter:\n  podDisruptionBudget:\n    minAvailable: 1\n",
			want: []string{"adapter.podDisruptionBudget: set either minAvailable or maxUnavailable, not both"}},
		{name: "PDB that blocks every eviction", values: "adapter:\n  replicas: 2\n  podDisruptionBudget:\n    minAvailable: 2\n    maxUnavailable: \"\"\n",
			want: []string{"adapter.podDisruptionBudget.minAvailable (2) equals adapter.replicas", "node drains would hang"}},
		{name: "duplicate simulated GPU", values: "exporter:\n  backend: simulated\n  simulation:\n    gpus:\n      - index: 1\n      - index: 1\n",
			want: []string{"exporter.simulation.gpus[1]: index 1 is listed twice"}},
		{name: "GPU node requirement In without values", values: "exporter:\n  gpuNodeAffinity:\n    - {key: example.com/gpu, operator: In}\n",
			want: []string{"exporter.gpuNodeAffinity[0] (example.com/gpu In): operator In needs at least one value"}},
		{name: "GPU node requirement Exists with values", values: "exporter:\n  gpuNodeAffinity:\n    - {key: example.com/gpu, operator: Exists, values: [\"true\"]}\n",
			want: []string{"exporter.gpuNodeAffinity[0] (example.com/gpu Exists): operator Exists takes no values"}},
		{name: "GPU node requirement Gt without an integer", values: "exporter:\n  gpuNodeAffinity:\n    - {key: example.com/gpu-count, operator: Gt, values: [\"many\"]}\n",
			want: []string{"exporter.gpuNodeAffinity[0] (example.com/gpu-count Gt): operator Gt needs exactly one integer value"}},
		{name: "GPU node requirement operator misspelt", values: "exporter:\n  gpuNodeAffinity:\n    - {key: example.com/gpu, operator: Exist}\n",
			want: []string{"/gpuNodeAffinity/0/operator", "value must be one of"}},
		{name: "GPU node label key malformed", values: "exporter:\n  gpuNodeAffinity:\n    - {key: \"gpu node\", operator: Exists}\n",
			want: []string{"/gpuNodeAffinity/0/key", "does not match pattern"}},
		{name: "own required node affinity beside the generated one",
			values: "exporter:\n  affinity:\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        nodeSelectorTerms:\n          - matchExpressions: [{key: pool, operator: In, values: [gpu]}]\n",
			want:   []string{"exporter.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution is generated from exporter.gpuNodeAffinity", "set exporter.gpuNodeAffinity: []"}},
		{name: "exporter namespace not a DNS label", values: "exporter:\n  namespaceOverride: GPU_Monitoring\n",
			want: []string{"/namespaceOverride", "does not match pattern"}},
		{name: "non-root exporter with the pod-resources socket", values: "exporter:\n  podSecurityContext:\n    runAsNonRoot: true\n    runAsUser: 65534\n",
			want: []string{"exporter.podSecurityContext.runAsNonRoot=true cannot reach the root-owned kubelet pod-resources socket"}},
		{name: "ServiceMonitor without a Service", values: "exporter:\n  service:\n    enabled: false\n  serviceMonitor:\n    enabled: true\n",
			want: []string{"exporter.serviceMonitor.enabled=true needs exporter.service.enabled=true"}},
		// Exporter web config (TLS, basic auth, connection limit).
		{name: "exporter TLS without a Secret", values: "exporter:\n  web:\n    tls:\n      enabled: true\n",
			want: []string{"exporter.web.tls.enabled=true needs exporter.web.tls.secretName", "kubernetes.io/tls"}},
		{name: "exporter TLS Secret without TLS", values: "exporter:\n  web:\n    tls:\n      secretName: exporter-tls\n",
			want: []string{"exporter.web.tls.secretName is set but exporter.web.tls.enabled=false"}},
		{name: "exporter basic auth with a plain password", values: "exporter:\n  web:\n    basicAuth:\n      users:\n        prometheus: s3cret\n",
			want: []string{"/web/basicAuth/users/prometheus", "does not match pattern"}},
		{name: "exporter without connections", values: "exporter:\n  web:\n    maxConnections: 0\n",
			want: []string{"/web/maxConnections", "minimum: got 0, want 1"}},
		{name: "ServiceMonitor tlsConfig for a plain-HTTP exporter", values: "exporter:\n  serviceMonitor:\n    tlsConfig:\n      insecureSkipVerify: true\n",
			want: []string{"exporter.serviceMonitor.tlsConfig is set but exporter.web.tls.enabled=false"}},
		{name: "ServiceMonitor basicAuth without exporter users", values: "exporter:\n  serviceMonitor:\n    basicAuth:\n      username: {name: s, key: u}\n      password: {name: s, key: p}\n",
			want: []string{"exporter.serviceMonitor.basicAuth is set but exporter.web.basicAuth.users is empty"}},
		{name: "ServiceMonitor basicAuth without a key", values: "exporter:\n  serviceMonitor:\n    basicAuth:\n      username: {name: s}\n",
			want: []string{"/serviceMonitor/basicAuth/username", "missing property 'key'"}},

		// Issue 13: values that rendered but deployed something broken.
		{name: "collection interval that overflows 3*interval", values: "exporter:\n  collectionInterval: 1000000h\n",
			want: []string{"exporter.collectionInterval=1000000h: use at most 1h"}},
		{name: "collection interval above 1h", values: "exporter:\n  collectionInterval: 61m\n",
			want: []string{"exporter.collectionInterval=61m: use at most 1h"}},
		{name: "pod-resources timeout 0s", values: "exporter:\n  podResources:\n    timeout: 0s\n",
			want: []string{"exporter.podResources.timeout=0s: use a positive duration shorter than exporter.collectionInterval"}},
		{name: "1s interval with attribution and the 2s default timeout", values: "exporter:\n  collectionInterval: 1s\n",
			want: []string{"exporter.podResources.timeout=2s must be shorter than exporter.collectionInterval=1s"}},
		{name: "two services scale one Deployment", values: "services:\n  ocr-service:\n    scaleTargetRef: {name: embedding-service}\n    targets: {cpuUtilization: 60}\n",
			want: []string{"services.embedding-service and services.ocr-service both scale Deployment/embedding-service", "one HPA per target", "set services.ocr-service.enabled=false"}},
		{name: "two services scale one Deployment caught without the schema", skipSchema: true,
			values: "services:\n  gpu-management-service:\n    scaleTargetRef: {name: reranking-service}\n",
			want:   []string{"services.gpu-management-service and services.reranking-service both scale Deployment/reranking-service"}},
		{name: "image tag with spaces", values: "exporter:\n  image:\n    tag: \"0.1.0 rc1\"\n",
			want: []string{"/image/tag", "empty_or_an_image_tag_of_letters_digits_underscores_dots_and_dashes"}},
		{name: "image tag with spaces caught without the schema", skipSchema: true, values: "exporter:\n  image:\n    tag: \"0.1.0 rc1\"\n",
			want: []string{`exporter.image.tag="0.1.0 rc1" is not an image tag`, "like 0.1.0"}},
		{name: "scaleTargetRef apps/v2", values: "services:\n  embedding-service:\n    scaleTargetRef: {apiVersion: apps/v2}\n",
			want: []string{"/services/embedding-service/scaleTargetRef/apiVersion", "value must be 'apps/v1'"}},
		{name: "scaleTargetRef apps/v2 caught without the schema", skipSchema: true, values: "services:\n  embedding-service:\n    scaleTargetRef: {apiVersion: apps/v2}\n",
			want: []string{"services.embedding-service.scaleTargetRef.apiVersion=apps/v2", "set apps/v1"}},
		{name: "exporter flag the binary does not know", values: "exporter:\n  extraArgs: [\"--web.telemetry-path=/m\"]\n",
			want: []string{`exporter.extraArgs[0]="--web.telemetry-path=/m": gpu-metrics-exporter has no flag --web.telemetry-path`, "its flags: backend, "}},
		{name: "exporter flag the chart sets from a value", values: "exporter:\n  extraArgs: [\"--collection-interval=1000000h\"]\n",
			want: []string{"the chart sets --collection-interval from exporter.collectionInterval; set that instead", "extraArgs may set: --runtime-metrics"}},
		{name: "exporter positional argument", values: "exporter:\n  extraArgs: [runtime-metrics]\n",
			want: []string{"/extraArgs/0", "a_flag_like___runtime_metrics_or___flag_eq_value"}},
		{name: "exporter positional argument caught without the schema", skipSchema: true, values: "exporter:\n  extraArgs: [\"--log-level\", debug]\n",
			want: []string{`exporter.extraArgs[0]="--log-level": the chart sets --log-level from exporter.logLevel`}},
		{name: "exporter Service LoadBalancer", values: "exporter:\n  service:\n    type: LoadBalancer\n",
			want: []string{"/service/type", "value must be one of 'ClusterIP', 'NodePort'"}},
		{name: "exporter Service LoadBalancer caught without the schema", skipSchema: true, values: "exporter:\n  service:\n    type: LoadBalancer\n",
			want: []string{"exporter.service.type=LoadBalancer would publish the exporter on an external address", "use ClusterIP"}},

		// Issue 13: values the API server would reject, found only at install.
		{name: "toleration operator Exist", values: "exporter:\n  tolerations:\n    - {key: nvidia.com/gpu, operator: Exist, effect: NoSchedule}\n",
			want: []string{"/tolerations/0/operator", "value must be one of 'Exists', 'Equal'"}},
		{name: "toleration effect typo", values: "exporter:\n  tolerations:\n    - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedul}\n",
			want: []string{"/tolerations/0/effect", "'NoSchedule', 'PreferNoSchedule', 'NoExecute'"}},
		{name: "toleration unknown field", values: "exporter:\n  tolerations:\n    - {key: nvidia.com/gpu, operator: Exists, effects: NoSchedule}\n",
			want: []string{"/tolerations/0", "additional properties 'effects' not allowed"}},
		{name: "adapter toleration operator Exist", values: "adapter:\n  tolerations:\n    - {operator: Exist}\n",
			want: []string{"/tolerations/0/operator", "value must be one of 'Exists', 'Equal'"}},
		{name: "API server CIDR prefix 33", values: "networkPolicy:\n  adapter:\n    apiServerCIDRs: [\"10.0.0.0/33\"]\n",
			want: []string{"/networkPolicy/adapter/apiServerCIDRs/0", "'10.0.0.0/33' does not match pattern", cidrHint}},
		{name: "API server CIDR octet 300", values: "networkPolicy:\n  adapter:\n    apiServerCIDRs: [\"300.0.0.0/8\"]\n",
			want: []string{"/networkPolicy/adapter/apiServerCIDRs/0", cidrHint}},
		{name: "API server IPv6 CIDR prefix 129", values: "networkPolicy:\n  adapter:\n    apiServerCIDRs: [\"fd00::/129\"]\n",
			want: []string{"/networkPolicy/adapter/apiServerCIDRs/0", cidrHint}},
		{name: "DaemonSet update strategy Rolling", values: "exporter:\n  updateStrategy:\n    type: Rolling\n",
			want: []string{"/updateStrategy/type", "value must be one of 'RollingUpdate', 'OnDelete'"}},
		{name: "DaemonSet maxUnavailable not a count or percentage", values: "exporter:\n  updateStrategy:\n    type: RollingUpdate\n    rollingUpdate: {maxUnavailable: one}\n",
			want: []string{"/updateStrategy/rollingUpdate/maxUnavailable", "a_count_like_1_or_a_percentage_like_25_percent"}},
		{name: "priorityClassName not a DNS subdomain", values: "exporter:\n  priorityClassName: System_Node_Critical\n",
			want: []string{"/priorityClassName", subdomainHint}},
		{name: "adapter priorityClassName not a DNS subdomain", values: "adapter:\n  priorityClassName: High Priority\n",
			want: []string{"/priorityClassName", subdomainHint}},
		{name: "runtimeClassName not a DNS subdomain", values: "exporter:\n  runtimeClassName: NVIDIA\n",
			want: []string{"/runtimeClassName", subdomainHint}},
		{name: "ServiceAccount name not a DNS subdomain", values: "exporter:\n  serviceAccount:\n    name: gpu_exporter\n",
			want: []string{"/serviceAccount/name", subdomainHint}},
		{name: "adapter ServiceAccount name not a DNS subdomain", values: "adapter:\n  serviceAccount:\n    name: Adapter\n",
			want: []string{"/serviceAccount/name", subdomainHint}},
		{name: "nodeSelector key not a label key", values: "exporter:\n  nodeSelector:\n    \"gpu pool\": \"true\"\n",
			want: []string{"/nodeSelector", "additional properties 'gpu pool' not allowed"}},
		{name: "nodeSelector value not a label value", values: "exporter:\n  nodeSelector:\n    cloud.google.com/gke-nodepool: \"gpu pool\"\n",
			want: []string{"/nodeSelector/cloud.google.com~1gke-nodepool", "empty_or_a_label_value_of_letters_digits_dashes_underscores_and_dots"}},
		{name: "adapter nodeSelector key not a label key", values: "adapter:\n  nodeSelector:\n    \"-bad\": x\n",
			want: []string{"/nodeSelector", "additional properties '-bad' not allowed"}},
		{name: "GPU node affinity key not a label key", values: "exporter:\n  gpuNodeAffinity:\n    - {key: \"nvidia.com/gpu present\", operator: Exists}\n",
			want: []string{"/gpuNodeAffinity/0/key", "a_label_key_like_example_com_slash_name"}},
		{name: "NetworkPolicy namespace label key not a label key", values: "networkPolicy:\n  exporter:\n    namespaceLabelKeys: [\"team name\"]\n",
			want: []string{"/networkPolicy/exporter/namespaceLabelKeys/0", "a_label_key_like_example_com_slash_name"}},

		// Issue 13: refusals that showed only a regex now name the expected format.
		{name: "pod-resources timeout without a unit", values: "exporter:\n  podResources:\n    timeout: \"2\"\n",
			want: []string{"/podResources/timeout", durationHint}},
		{name: "collection interval without a unit caught without the schema", skipSchema: true, values: "exporter:\n  collectionInterval: 30\n",
			want: []string{"exporter.collectionInterval=30: use a Go duration with a unit, like 30s or 1m30s"}},
		{name: "ServiceMonitor interval without a unit", values: "exporter:\n  serviceMonitor:\n    interval: \"30\"\n",
			want: []string{"/serviceMonitor/interval", "empty_or_a_Go_duration_with_a_unit_like_30s"}},
		{name: "adapter relist interval without a unit", values: "adapter:\n  metricsRelistInterval: \"60\"\n",
			want: []string{"/metricsRelistInterval", durationHint}},
		{name: "alert for without a unit", values: "prometheusRule:\n  alerts:\n    exporterDown:\n      for: \"5\"\n",
			want: []string{"/prometheusRule/alerts/exporterDown/for", "a_whole_number_with_a_unit_like_30s_5m_or_1h"}},
		{name: "exporter memory 4GB", values: "exporter:\n  resources:\n    requests: {cpu: 50m, memory: 4GB}\n    limits: {cpu: 200m, memory: 4GB}\n",
			want: []string{"/resources/requests/memory", "'4GB' does not match pattern", memoryHint}},
		{name: "adapter memory 4GB", values: "adapter:\n  resources:\n    limits: {cpu: 200m, memory: 4GB}\n",
			want: []string{"/resources/limits/memory", memoryHint}},
		{name: "adapter CPU 2 cores as text", values: "adapter:\n  resources:\n    limits: {cpu: 2cores, memory: 256Mi}\n",
			want: []string{"/resources/limits/cpu", "a_CPU_quantity_like_50m_or_1"}},
		{name: "exporter namespace not a DNS label", values: "exporter:\n  namespaceOverride: GPU_Monitoring\n",
			want: []string{"/namespaceOverride", namespaceHint}},
		{name: "rules-only namespace not a DNS label", values: "adapter:\n  rulesOnly:\n    namespace: Monitoring\n",
			want: []string{"/rulesOnly/namespace", namespaceHint}},
		{name: "dashboards namespace not a DNS label", values: "dashboards:\n  namespace: Grafana\n",
			want: []string{"/dashboards/namespace", namespaceHint}},
		{name: "adapter rule series not a metric name", values: "adapter:\n  rules:\n    podGPUMetrics:\n      - {series: gpu-utilization, aggregation: avg}\n",
			want: []string{"/rules/podGPUMetrics/0/series", "a_Prometheus_metric_name_like_gpu_utilization_percent"}},
		{name: "adapter request-rate window without a unit", values: "adapter:\n  rules:\n    requestRate:\n      window: \"2\"\n",
			want: []string{"/rules/requestRate/window", "a_whole_number_with_a_unit_like_2m"}},
		{name: "pod-resources host path relative", values: "exporter:\n  podResources:\n    hostPath: var/lib/kubelet/pod-resources\n",
			want: []string{"/podResources/hostPath", "an_absolute_path_like_slash_var_lib_kubelet"}},
		{name: "nameOverride not a DNS label", values: "nameOverride: GPU_Autoscaling\n",
			want: []string{"/nameOverride", "empty_or_a_DNS_label_of_lowercase_letters_digits_and_dashes"}},
		{name: "toleration key not a label key", values: "exporter:\n  tolerations:\n    - {key: \"nvidia gpu\", operator: Exists}\n",
			want: []string{"/tolerations/0/key", "empty_or_a_label_key_like_example_com_slash_name"}},
		{name: "image digest without sha256", values: "exporter:\n  image:\n    digest: abc123\n",
			want: []string{"/image/digest", "empty_or_sha256_colon_and_64_hex_digits"}},

		// charts/gpu-services: the schema, and the same mistakes caught at render time without it.
		{chart: "gpu-services", name: "gpu-services: unknown top-level key", values: "image_tag: x\n",
			want: []string{"at ''", "additional properties 'image_tag' not allowed"}},
		{chart: "gpu-services", name: "gpu-services: unknown key in devicePlugin", values: "devicePlugin:\n  gpus: 8\n",
			want: []string{"/devicePlugin", "additional properties 'gpus' not allowed"}},
		{chart: "gpu-services", name: "gpu-services: device plugin with 65 GPUs", values: "devicePlugin:\n  devices: 65\n",
			want: []string{"/devicePlugin/devices", "maximum: got 65, want 64"}},
		{chart: "gpu-services", name: "gpu-services: device plugin with 65 GPUs caught without the schema", skipSchema: true,
			values: "devicePlugin:\n  enabled: true\n  devices: 65\n",
			want:   []string{"devicePlugin.devices=65: use 1 to 64 GPUs per node (0: the model's 8)", "exporter.simulation.gpuCount"}},
		{chart: "gpu-services", name: "gpu-services: device plugin model typo", values: "devicePlugin:\n  simulationModel: a100\n",
			want: []string{"/devicePlugin/simulationModel", "value must be one of 'dgxa100', 'dgxh100', 'dgxh200'"}},
		{chart: "gpu-services", name: "gpu-services: device plugin model caught without the schema", skipSchema: true,
			values: "devicePlugin:\n  simulationModel: a100\n",
			want:   []string{"devicePlugin.simulationModel=a100: use dgxa100, dgxh100 or dgxh200", "exporter.simulation.model"}},
		{chart: "gpu-services", name: "gpu-services: negative replicas", values: "replicas: -1\n",
			want: []string{"/replicas", "minimum: got -1, want 0"}},
		{chart: "gpu-services", name: "gpu-services: negative replicas caught without the schema", skipSchema: true, values: "replicas: -1\n",
			want: []string{"replicas=-1: use a replica count of 0 or more (or null to leave spec.replicas to the HPA)"}},
		{chart: "gpu-services", name: "gpu-services: probe period 0", values: "readinessProbe:\n  periodSeconds: 0\n",
			want: []string{"/readinessProbe/periodSeconds", "minimum: got 0, want 1"}},
		{chart: "gpu-services", name: "gpu-services: negative probe period caught without the schema", skipSchema: true,
			values: "livenessProbe:\n  periodSeconds: -5\n",
			want:   []string{"livenessProbe.periodSeconds=-5: use a positive whole number (e.g. livenessProbe.periodSeconds: 10)"}},
		{chart: "gpu-services", name: "gpu-services: probe timeout 0 caught without the schema", skipSchema: true,
			values: "readinessProbe:\n  timeoutSeconds: 0\n",
			want:   []string{"readinessProbe.timeoutSeconds=0: use a positive whole number"}},
		{chart: "gpu-services", name: "gpu-services: unknown probe field", values: "livenessProbe:\n  period: 10\n",
			want: []string{"/livenessProbe", "additional properties 'period' not allowed"}},
		{chart: "gpu-services", name: "gpu-services: load for a field the stand-in does not know", values: "load:\n  services:\n    embedding-service: {gpuPercent: 50}\n",
			want: []string{"/load/services/embedding-service", "additional properties 'gpuPercent' not allowed"}},
		{chart: "gpu-services", name: "gpu-services: negative load", values: "load:\n  services:\n    embedding-service: {cpuMillicores: -1}\n",
			want: []string{"/load/services/embedding-service/cpuMillicores", "minimum: got -1, want 0"}},
		{chart: "gpu-services", name: "gpu-services: reload interval not a duration", values: "load:\n  reloadInterval: often\n",
			want: []string{"/load/reloadInterval", "does not match pattern", durationHint}},
		{chart: "gpu-services", name: "gpu-services: max CPU 0 caught without the schema", skipSchema: true, values: "load:\n  maxCpuMillicores: 0\n",
			want: []string{"load.maxCpuMillicores=0: use a positive number of millicores"}},
		{chart: "gpu-services", name: "gpu-services: CPU limit below what the load may burn", values: "resources:\n  requests: {cpu: 50m, memory: 256Mi}\n  limits: {cpu: 200m, memory: 512Mi}\n",
			want: []string{"resources.limits.cpu=200m is below load.maxCpuMillicores=1000", "lower load.maxCpuMillicores or raise resources.limits.cpu to at least 1000m"}},
		{chart: "gpu-services", name: "gpu-services: memory limit too close to what the load may hold",
			values: "load:\n  maxCpuMillicores: 100\nservices:\n  embedding-service:\n    resources:\n      requests: {cpu: 50m, memory: 256Mi}\n      limits: {cpu: 200m, memory: 1Gi}\n",
			want:   []string{"services.embedding-service.resources.limits.memory=1Gi leaves less than 30 MiB above load.maxMemoryMiB=1024", "raise services.embedding-service.resources.limits.memory to at least 1054Mi"}},
		{chart: "gpu-services", name: "gpu-services: privileged port", values: "port: 80\n",
			want: []string{"/port", "minimum: got 80, want 1,024"}},
		{chart: "gpu-services", name: "gpu-services: service name not a DNS label", values: "services:\n  Embedding_Service: {}\n",
			want: []string{"/services", "additional properties 'Embedding_Service' not allowed"}},
		{chart: "gpu-services", name: "gpu-services: service name caught without the schema", skipSchema: true, values: "services:\n  Embedding_Service: {}\n",
			want: []string{"services.Embedding_Service: a service name must be a lowercase DNS label", "rename the key"}},
		{chart: "gpu-services", name: "gpu-services: device plugin toleration operator Exist", values: "devicePlugin:\n  tolerations:\n    - {operator: Exist}\n",
			want: []string{"/devicePlugin/tolerations/0/operator", "value must be one of 'Exists', 'Equal'"}},
		{chart: "gpu-services", name: "gpu-services: priorityClassName not a DNS subdomain", values: "devicePlugin:\n  priorityClassName: Node_Critical\n",
			want: []string{"/devicePlugin/priorityClassName", subdomainHint}},
	}
}

func TestBadValuesAreRejectedWithAMessageThatSaysWhatToFix(t *testing.T) {
	t.Parallel()
	cases := badValueCases()
	require.GreaterOrEqual(t, len(cases), 25)
	t.Logf("%d bad values, each must be refused", len(cases))
	for _, bv := range cases {
		t.Run(bv.name, func(t *testing.T) {
			t.Parallel()
			req := renderRequest{chart: bv.chart, values: bv.values}
			if bv.skipSchema {
				req.extraArgs = []string{"--skip-schema-validation"}
			}
			_, err := renderE(t, req)
			require.Error(t, err, "values accepted but must be rejected:\n%s", bv.values)
			msg := err.Error()
			for _, w := range bv.want {
				assert.Contains(t, msg, w)
			}
			assert.False(t, strings.Contains(msg, "nil pointer") || strings.Contains(msg, "can't evaluate field"),
				"the chart crashed instead of explaining the mistake: %s", msg)
		})
	}
}
