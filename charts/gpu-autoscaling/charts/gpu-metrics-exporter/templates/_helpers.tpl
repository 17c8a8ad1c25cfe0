{{/* Name used in labels; stable whether the chart is installed alone or as the umbrella's `exporter` alias. */}}
{{- define "gpu-metrics-exporter.name" -}}
{{- default "gpu-metrics-exporter" .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full object name: <release>-<name>, or the release name when it already contains the name. */}}
{{- define "gpu-metrics-exporter.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "gpu-metrics-exporter.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "gpu-metrics-exporter.chart" -}}
{{- printf "gpu-metrics-exporter-%s" .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: immutable in a DaemonSet, so name and instance only. */}}
{{- define "gpu-metrics-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gpu-metrics-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gpu-metrics-exporter.labels" -}}
{{ include "gpu-metrics-exporter.selectorLabels" . }}
app.kubernetes.io/component: exporter
app.kubernetes.io/part-of: gpu-autoscaling
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ include "gpu-metrics-exporter.chart" . }}
{{- end -}}

{{- define "gpu-metrics-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "gpu-metrics-exporter.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "gpu-metrics-exporter.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* True (non-empty) when a ServiceMonitor is rendered: value on and the CRD's API known to the cluster. */}}
{{- define "gpu-metrics-exporter.serviceMonitorEnabled" -}}
{{- if and .Values.serviceMonitor.enabled (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor") -}}
true
{{- end -}}
{{- end -}}

{{/* prometheus.io/* annotations for annotation-based discovery. */}}
{{- define "gpu-metrics-exporter.scrapeAnnotations" -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.port | quote }}
prometheus.io/path: /metrics
{{- if .Values.web.tls.enabled }}
prometheus.io/scheme: https
{{- end }}
{{- end -}}

{{/* Non-empty when the exporter gets a web config file (TLS or basic auth). */}}
{{- define "gpu-metrics-exporter.webConfigEnabled" -}}
{{- if or .Values.web.tls.enabled .Values.web.basicAuth.users -}}true{{- end -}}
{{- end -}}

{{/* exporter-toolkit web config: https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md */}}
{{- define "gpu-metrics-exporter.webConfig" -}}
{{- if .Values.web.tls.enabled }}
tls_server_config:
  cert_file: /etc/gpu-metrics-exporter/tls/tls.crt
  key_file: /etc/gpu-metrics-exporter/tls/tls.key
{{- end }}
{{- with .Values.web.basicAuth.users }}
basic_auth_users:
  {{- range $user, $hash := . }}
  {{ $user | quote }}: {{ $hash | quote }}
  {{- end }}
{{- end }}
{{- end -}}

{{- define "gpu-metrics-exporter.simulationFile" -}}
{{- if .Values.simulation.file -}}
{{- .Values.simulation.file -}}
{{- else -}}
/etc/gpu-metrics-exporter/simulation/simulation.yaml
{{- end -}}
{{- end -}}

{{/* Cross-field checks the schema cannot express. */}}
{{/*
Seconds in a Go duration that the schema already accepted ("30s", "500ms", "1m30s"), as a float.
*/}}
{{- define "gpu-metrics-exporter.seconds" -}}
{{- $unit := dict "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 -}}
{{- $total := 0.0 -}}
{{- range regexFindAll "[0-9]+(\\.[0-9]+)?(ms|s|m|h)" (toString .) -1 -}}
{{- $total = addf $total (mulf (regexReplaceAll "(ms|s|m|h)$" . "" | float64) (get $unit (regexFind "(ms|s|m|h)$" .))) -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/* Namespace of the exporter's objects: namespaceOverride or the release namespace. */}}
{{- define "gpu-metrics-exporter.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride -}}
{{- end -}}

{{/*
The pod's affinity: the user's, with the required node affinity generated from gpuNodeAffinity (one term per
entry, so a node matching any platform's GPU label qualifies). Empty output: no affinity at all.
*/}}
{{- define "gpu-metrics-exporter.affinity" -}}
{{- $affinity := deepCopy (.Values.affinity | default dict) -}}
{{- if .Values.gpuNodeAffinity -}}
{{- $terms := list -}}
{{- range .Values.gpuNodeAffinity -}}
{{- $terms = append $terms (dict "matchExpressions" (list .)) -}}
{{- end -}}
{{- $nodeAffinity := get $affinity "nodeAffinity" | default dict -}}
{{- $_ := set $nodeAffinity "requiredDuringSchedulingIgnoredDuringExecution" (dict "nodeSelectorTerms" $terms) -}}
{{- $_ = set $affinity "nodeAffinity" $nodeAffinity -}}
{{- end -}}
{{- if $affinity -}}
{{- toYaml $affinity -}}
{{- end -}}
{{- end -}}

{{- define "gpu-metrics-exporter.validate" -}}
{{- if and .Values.gpuNodeAffinity (dig "nodeAffinity" "requiredDuringSchedulingIgnoredDuringExecution" "" (.Values.affinity | default dict)) -}}
{{- fail "exporter.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution is generated from exporter.gpuNodeAffinity: list your node labels there, or set exporter.gpuNodeAffinity: [] to use your own required node affinity" -}}
{{- end -}}
{{- range $i, $r := .Values.gpuNodeAffinity -}}
{{- $n := len ($r.values | default list) -}}
{{- if and (has $r.operator (list "In" "NotIn")) (eq $n 0) -}}
{{- fail (printf "exporter.gpuNodeAffinity[%d] (%s %s): operator %s needs at least one value, for example values: [\"true\"]" $i $r.key $r.operator $r.operator) -}}
{{- end -}}
{{- if and (has $r.operator (list "Exists" "DoesNotExist")) (gt $n 0) -}}
{{- fail (printf "exporter.gpuNodeAffinity[%d] (%s %s): operator %s takes no values; remove them or use In" $i $r.key $r.operator $r.operator) -}}
{{- end -}}
{{- if and (has $r.operator (list "Gt" "Lt")) (or (ne $n 1) (not (regexMatch "^-?[0-9]+$" (first ($r.values | default (list "x")))))) -}}
{{- fail (printf "exporter.gpuNodeAffinity[%d] (%s %s): operator %s needs exactly one integer value, for example values: [\"7\"]" $i $r.key $r.operator $r.operator) -}}
{{- end -}}
{{- end -}}
{{- include "gpu-metrics-exporter.requireDuration" (dict "name" "exporter.collectionInterval" "value" .Values.collectionInterval) -}}
{{- $interval := include "gpu-metrics-exporter.seconds" .Values.collectionInterval | float64 -}}
{{- /* Bounds: internal/contract/bounds MinCollectionInterval and MaxCollectionInterval (tests/chart compares). */ -}}
{{- if lt $interval 1.0 -}}
{{- fail (printf "exporter.collectionInterval=%s: the exporter needs at least 1s (15s, 30s or 60s are typical)" (toString .Values.collectionInterval)) -}}
{{- end -}}
{{- if gt $interval 3600.0 -}}
{{- fail (printf "exporter.collectionInterval=%s: use at most 1h (15s, 30s or 60s are typical); the HPAs would see GPU load that old" (toString .Values.collectionInterval)) -}}
{{- end -}}
{{- if .Values.podResources.enabled -}}
{{- include "gpu-metrics-exporter.requireDuration" (dict "name" "exporter.podResources.timeout" "value" .Values.podResources.timeout) -}}
{{- $timeout := include "gpu-metrics-exporter.seconds" .Values.podResources.timeout | float64 -}}
{{- if le $timeout 0.0 -}}
{{- fail (printf "exporter.podResources.timeout=%s: use a positive duration shorter than exporter.collectionInterval, like 2s" (toString .Values.podResources.timeout)) -}}
{{- end -}}
{{- if ge $timeout $interval -}}
{{- fail (printf "exporter.podResources.timeout=%s must be shorter than exporter.collectionInterval=%s: a hung kubelet would otherwise stall every collection" .Values.podResources.timeout .Values.collectionInterval) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.serviceMonitor.interval .Values.serviceMonitor.scrapeTimeout -}}
{{- if gt (include "gpu-metrics-exporter.seconds" .Values.serviceMonitor.scrapeTimeout | float64) (include "gpu-metrics-exporter.seconds" .Values.serviceMonitor.interval | float64) -}}
{{- fail (printf "exporter.serviceMonitor.scrapeTimeout=%s is longer than exporter.serviceMonitor.interval=%s: Prometheus rejects such a scrape config; lower the timeout" .Values.serviceMonitor.scrapeTimeout .Values.serviceMonitor.interval) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.web.tls.enabled (not .Values.web.tls.secretName) -}}
{{- fail "exporter.web.tls.enabled=true needs exporter.web.tls.secretName: the name of a kubernetes.io/tls Secret (tls.crt, tls.key) in the exporter's namespace, for example from cert-manager" -}}
{{- end -}}
{{- if and .Values.web.tls.secretName (not .Values.web.tls.enabled) -}}
{{- fail "exporter.web.tls.secretName is set but exporter.web.tls.enabled=false: set exporter.web.tls.enabled=true to serve HTTPS, or drop the secret name" -}}
{{- end -}}
{{- if and .Values.serviceMonitor.tlsConfig (not .Values.web.tls.enabled) -}}
{{- fail "exporter.serviceMonitor.tlsConfig is set but exporter.web.tls.enabled=false: the exporter serves plain HTTP; enable exporter.web.tls or drop the tlsConfig" -}}
{{- end -}}
{{- if and .Values.serviceMonitor.basicAuth (not .Values.web.basicAuth.users) -}}
{{- fail "exporter.serviceMonitor.basicAuth is set but exporter.web.basicAuth.users is empty: the exporter asks for no password; add the user (with its bcrypt hash) or drop the basicAuth" -}}
{{- end -}}
{{- if and .Values.serviceMonitor.enabled (not .Values.service.enabled) -}}
{{- fail "exporter.serviceMonitor.enabled=true needs exporter.service.enabled=true: a ServiceMonitor selects the exporter's Service" -}}
{{- end -}}
{{- if and .Values.podResources.enabled .Values.podSecurityContext.runAsNonRoot -}}
{{- fail "exporter.podSecurityContext.runAsNonRoot=true cannot reach the root-owned kubelet pod-resources socket: set exporter.podResources.enabled=false (GPU series lose their pod labels) or keep runAsNonRoot=false" -}}
{{- end -}}
{{- if eq (toString .Values.service.type) "LoadBalancer" -}}
{{- fail "exporter.service.type=LoadBalancer would publish the exporter on an external address, and its series name every GPU workload's namespace and pod: use ClusterIP (Prometheus scrapes inside the cluster) or NodePort behind your own firewall" -}}
{{- end -}}
{{- if not (regexMatch "^([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$" (toString .Values.image.tag)) -}}
{{- fail (printf "exporter.image.tag=%q is not an image tag: use letters, digits, '_', '.' and '-' (at most 128, not starting with '.' or '-'), like 0.1.0" (toString .Values.image.tag)) -}}
{{- end -}}
{{- include "gpu-metrics-exporter.validateExtraArgs" . -}}
{{- if .Values.processAttribution.enabled -}}
{{- if ne .Values.backend "nvml" -}}
{{- fail (printf "exporter.processAttribution.enabled needs exporter.backend=nvml: the %s backend reports no GPU processes" .Values.backend) -}}
{{- end -}}
{{- if not .Values.podResources.enabled -}}
{{- fail "exporter.processAttribution.enabled needs exporter.podResources.enabled: it splits a GPU among the pods the kubelet allocated it to" -}}
{{- end -}}
{{- if not .Values.hostProc.enabled -}}
{{- fail "exporter.processAttribution.enabled needs exporter.hostProc.enabled: true: a GPU process's cgroup is read from the host's /proc (NVML reports host PIDs)" -}}
{{- end -}}
{{- end -}}
{{- $seen := dict -}}
{{- $count := .Values.simulation.gpuCount | default 8 | int -}}
{{- range $i, $g := .Values.simulation.gpus -}}
{{- $k := toString $g.index -}}
{{- if ge (int $g.index) $count -}}
{{- fail (printf "exporter.simulation.gpus[%d]: index %s is beyond the %d simulated GPUs (indexes 0..%d); lower it or raise exporter.simulation.gpuCount" $i $k $count (sub $count 1)) -}}
{{- end -}}
{{- if hasKey $seen $k -}}
{{- fail (printf "exporter.simulation.gpus[%d]: index %s is listed twice; each GPU index may appear once" $i $k) -}}
{{- end -}}
{{- $_ := set $seen $k true -}}
{{- end -}}
{{- end -}}


{{/* Fails unless .value (named .name in the message) is a Go duration with a unit; the schema says so first. */}}
{{- define "gpu-metrics-exporter.requireDuration" -}}
{{- if not (regexMatch "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$" (toString .value)) -}}
{{- fail (printf "%s=%v: use a Go duration with a unit, like 30s or 1m30s" .name .value) -}}
{{- end -}}
{{- end -}}

{{/*
Every flag of `gpu-metrics-exporter -h`, mapped to the value the chart sets it from ("" for a flag that
extraArgs may set). This is the chart's only list of the binary's flags: tests/chart compares it with the
binary's own flag set, so a flag added to the exporter must be added here.
*/}}
{{- define "gpu-metrics-exporter.flags" -}}
{{- toJson (dict
  "backend" "exporter.backend"
  "collection-interval" "exporter.collectionInterval"
  "listen-address" "exporter.port"
  "log-level" "exporter.logLevel"
  "node-name" "the NODE_NAME variable, set from the pod's spec.nodeName"
  "pod-resources-socket" "exporter.podResources.enabled, .hostPath and .socketName"
  "pod-resources-timeout" "exporter.podResources.timeout"
  "proc-path" "exporter.procPath and exporter.hostProc.enabled"
  "process-attribution" "exporter.processAttribution.enabled"
  "runtime-metrics" ""
  "simulation-file" "exporter.simulation.file"
  "simulation-gpus" "exporter.simulation.gpuCount"
  "simulation-mig-devices" "exporter.simulation.migDevices"
  "simulation-model" "exporter.simulation.model"
  "utilization-reading" ""
  "web.config.file" "exporter.web.tls and exporter.web.basicAuth"
  "web.listen-address" "exporter.port"
  "web.max-connections" "exporter.web.maxConnections"
) -}}
{{- end -}}

{{/* extraArgs may only carry flags the binary knows and the chart does not set from a value. */}}
{{- define "gpu-metrics-exporter.validateExtraArgs" -}}
{{- $flags := include "gpu-metrics-exporter.flags" . | fromJson -}}
{{- $free := list -}}
{{- range $f, $v := $flags -}}{{- if not $v -}}{{- $free = append $free (printf "--%s" $f) -}}{{- end -}}{{- end -}}
{{- range $i, $a := .Values.extraArgs -}}
{{- $a = toString $a -}}
{{- if not (regexMatch "^--[a-z][-a-z0-9.]*(=.*)?$" $a) -}}
{{- fail (printf "exporter.extraArgs[%d]=%q: give one flag per entry as --flag or --flag=value (the exporter takes no positional arguments), like --runtime-metrics" $i $a) -}}
{{- end -}}
{{- $name := regexReplaceAll "^--([^=]*).*$" $a "${1}" -}}
{{- if not (hasKey $flags $name) -}}
{{- fail (printf "exporter.extraArgs[%d]=%q: gpu-metrics-exporter has no flag --%s (it would exit 2 on start); its flags: %s" $i $a $name (keys $flags | sortAlpha | join ", ")) -}}
{{- end -}}
{{- with get $flags $name -}}
{{- fail (printf "exporter.extraArgs[%d]=%q: the chart sets --%s from %s; set that instead (extraArgs may set: %s)" $i $a $name . (join ", " $free)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
