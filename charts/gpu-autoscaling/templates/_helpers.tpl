{{- define "gpu-autoscaling.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: the release name when it already contains the chart name, else <release>-<name>. */}}
{{- define "gpu-autoscaling.fullname" -}}
{{- $name := include "gpu-autoscaling.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "gpu-autoscaling.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gpu-autoscaling.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gpu-autoscaling.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Common labels; pass a dict with "ctx" (the root context) and "component". */}}
{{- define "gpu-autoscaling.labels" -}}
{{ include "gpu-autoscaling.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: gpu-autoscaling
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
helm.sh/chart: {{ include "gpu-autoscaling.chart" .ctx }}
{{- end -}}

{{/* Selector labels of the subcharts' pods (they use fixed names so aliasing does not change them). */}}
{{- define "gpu-autoscaling.exporterSelectorLabels" -}}
app.kubernetes.io/name: {{ default "gpu-metrics-exporter" .Values.exporter.nameOverride }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gpu-autoscaling.adapterSelectorLabels" -}}
app.kubernetes.io/name: {{ default "custom-metrics-adapter" .Values.adapter.nameOverride }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Whether a service entry is enabled (absent `enabled` means true). */}}
{{- define "gpu-autoscaling.serviceEnabled" -}}
{{- if ne (toString (dig "enabled" true .)) "false" -}}true{{- end -}}
{{- end -}}

{{/* Names of the HPAs this release renders, as a regex alternation. */}}
{{- define "gpu-autoscaling.hpaNamesRegex" -}}
{{- $names := list -}}
{{- range $key, $svc := .Values.services -}}
{{- if include "gpu-autoscaling.serviceEnabled" $svc -}}
{{- $names = append $names (printf "%s-hpa" $key) -}}
{{- end -}}
{{- end -}}
{{- join "|" $names -}}
{{- end -}}

{{/*
Effective behavior of one service: each field of scaleUp/scaleDown comes from the service when it sets it,
else from the global `behavior`. A list of policies is replaced as a whole. Pass dict "root" and "service".
*/}}
{{- define "gpu-autoscaling.behavior" -}}
{{- $global := .root.Values.behavior | default dict -}}
{{- $svc := .service.behavior | default dict -}}
{{- $out := dict -}}
{{- range $dir := list "scaleUp" "scaleDown" -}}
{{- $g := get $global $dir | default dict -}}
{{- $s := get $svc $dir | default dict -}}
{{- $r := dict -}}
{{- range $f := list "stabilizationWindowSeconds" "selectPolicy" "policies" -}}
{{- if hasKey $s $f -}}
{{- $_ := set $r $f (get $s $f) -}}
{{- else if hasKey $g $f -}}
{{- $_ := set $r $f (get $g $f) -}}
{{- end -}}
{{- end -}}
{{- if $r -}}
{{- $_ := set $out $dir $r -}}
{{- end -}}
{{- end -}}
{{- if $out -}}
{{- toYaml $out -}}
{{- end -}}
{{- end -}}

{{/* Served names of the adapter's per-pod metrics (empty list when the adapter is off). */}}
{{- define "gpu-autoscaling.servedPodMetrics" -}}
{{- $served := list -}}
{{- if .Values.adapter.enabled -}}
{{- range (dig "rules" "podGPUMetrics" list .Values.adapter) -}}
{{- $served = append $served .series -}}
{{- end -}}
{{- if dig "rules" "requestRate" "enabled" false .Values.adapter -}}
{{- $served = append $served (dig "rules" "requestRate" "metricName" "service_requests_per_second" .Values.adapter) -}}
{{- end -}}
{{- end -}}
{{- toJson $served -}}
{{- end -}}

{{/*
Cross-field checks of one service that values.schema.json cannot express; every message names the
service and the field, and says what to change. Pass dict "root", "key" and "service".
*/}}
{{- define "gpu-autoscaling.validateService" -}}
{{- $key := .key -}}
{{- $svc := .service -}}
{{- $root := .root -}}
{{- if or (not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $key)) (gt (len $key) 59) -}}
{{- fail (printf "services.%s: a service name must be a lowercase DNS label (a-z, 0-9 and '-', starting and ending alphanumeric) of at most 59 characters, because it names the HPA (<name>-hpa) and the Deployment it scales; rename the key" $key) -}}
{{- end -}}
{{- $min := ternary $svc.minReplicas $root.Values.defaults.minReplicas (hasKey $svc "minReplicas") -}}
{{- $max := ternary $svc.maxReplicas $root.Values.defaults.maxReplicas (hasKey $svc "maxReplicas") -}}
{{- if gt (float64 $min) (float64 $max) -}}
{{- fail (printf "services.%s: minReplicas (%v) is greater than maxReplicas (%v); lower services.%s.minReplicas or raise services.%s.maxReplicas" $key $min $max $key $key) -}}
{{- end -}}
{{- $apiVersion := dig "scaleTargetRef" "apiVersion" "apps/v1" $svc -}}
{{- if ne (toString $apiVersion) "apps/v1" -}}
{{- fail (printf "services.%s.scaleTargetRef.apiVersion=%v: Deployments, StatefulSets and ReplicaSets are apps/v1; set apps/v1 or remove the field" $key $apiVersion) -}}
{{- end -}}
{{- $t := $svc.targets | default dict -}}
{{- range $f := list "cpuUtilization" "memoryUtilization" "gpuUtilization" -}}
{{- if hasKey $t $f -}}
{{- $v := get $t $f -}}
{{- if or (lt (float64 $v) 1.0) (gt (float64 $v) 100.0) -}}
{{- fail (printf "services.%s.targets.%s: %v is not a percentage threshold; use a value from 1 to 100" $key $f $v) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $count := 0 -}}
{{- range $f := list "cpuUtilization" "memoryUtilization" "gpuUtilization" "gpuMemoryMB" "requestsPerSecond" -}}
{{- if hasKey $t $f -}}{{- $count = add1 $count -}}{{- end -}}
{{- end -}}
{{- $count = add $count (len ($svc.extraMetrics | default list)) -}}
{{- if eq (int $count) 0 -}}
{{- fail (printf "services.%s.targets: the HPA has no metric to scale on; set at least one of cpuUtilization, memoryUtilization, gpuUtilization, gpuMemoryMB, requestsPerSecond, or add services.%s.extraMetrics (or set services.%s.enabled=false)" $key $key $key) -}}
{{- end -}}
{{- if $root.Values.adapter.enabled -}}
{{- $served := include "gpu-autoscaling.servedPodMetrics" $root | fromJsonArray -}}
{{- if and (hasKey $t "gpuUtilization") (not (has "gpu_utilization_percent" $served)) -}}
{{- fail (printf "services.%s.targets.gpuUtilization scales on gpu_utilization_percent, which adapter.rules.podGPUMetrics does not serve; add {series: gpu_utilization_percent, aggregation: avg} there or remove the target" $key) -}}
{{- end -}}
{{- if and (hasKey $t "gpuMemoryMB") (not (has "gpu_memory_usage_mb" $served)) -}}
{{- fail (printf "services.%s.targets.gpuMemoryMB scales on gpu_memory_usage_mb, which adapter.rules.podGPUMetrics does not serve; add {series: gpu_memory_usage_mb, aggregation: sum} there or remove the target" $key) -}}
{{- end -}}
{{- if and (hasKey $t "requestsPerSecond") (not (dig "rules" "requestRate" "enabled" false $root.Values.adapter)) -}}
{{- fail (printf "services.%s.targets.requestsPerSecond needs adapter.rules.requestRate.enabled=true: only then does the adapter serve the request-rate metric" $key) -}}
{{- end -}}
{{- end -}}
{{- $b := include "gpu-autoscaling.behavior" (dict "root" $root "service" $svc) | fromYaml -}}
{{- range $dir := list "scaleUp" "scaleDown" -}}
{{- $r := get $b $dir | default dict -}}
{{- if and (ne (toString (get $r "selectPolicy")) "Disabled") (not (get $r "policies")) (hasKey $b $dir) -}}
{{- fail (printf "services.%s.behavior.%s: no policies; give at least one policy or set selectPolicy: Disabled" $key $dir) -}}
{{- end -}}
{{- range $i, $p := (get $r "policies" | default list) -}}
{{- if and (eq (toString $p.type) "Percent") (gt (float64 $p.value) 1000.0) -}}
{{- fail (printf "services.%s.behavior.%s.policies[%d]: Percent value %v is implausible; use at most 1000" $key $dir $i $p.value) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
"true" when the adapter's generated TLS (adapter.tls.source=helm) was rendered without cluster access, the
test apiservice.yaml of the adapter subchart makes: its Secret is not found and neither is the release
namespace nor kube-system (`helm template`, client-side dry runs and `helm lint` answer every lookup with an
empty map; kube-system is asked because a first `helm install --create-namespace` renders before it creates
the namespace). The Secret is looked up first so that, as in the subchart, Namespaces are read only when it
is missing. Its name comes from the subchart's own helper (loaded whenever adapter.enabled is true).
*/}}
{{- define "gpu-autoscaling.adapterTLSWithoutCluster" -}}
{{- $adapter := dict "Values" .Values.adapter "Release" .Release -}}
{{- if and .Values.adapter.enabled (eq .Values.adapter.mode "full") (eq .Values.adapter.tls.source "helm") -}}
{{- if not (lookup "v1" "Secret" .Release.Namespace (include "custom-metrics-adapter.tlsSecretName" $adapter)) -}}
{{- if not (or (lookup "v1" "Namespace" "" .Release.Namespace) (lookup "v1" "Namespace" "" "kube-system")) -}}true{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
One HPA per scale target: two HPAs on one Deployment fight over its replicas (the HPA controller marks both
AmbiguousSelector and scales neither). Fails naming both services.
*/}}
{{- define "gpu-autoscaling.validateTargets" -}}
{{- $seen := dict -}}
{{- range $key, $svc := .Values.services -}}
{{- $svc = $svc | default dict -}}
{{- if include "gpu-autoscaling.serviceEnabled" $svc -}}
{{- $kind := dig "scaleTargetRef" "kind" "Deployment" $svc | toString -}}
{{- $name := dig "scaleTargetRef" "name" $key $svc | toString -}}
{{- $target := printf "%s/%s" $kind $name -}}
{{- with get $seen $target -}}
{{- fail (printf "services.%s and services.%s both scale %s: one HPA per target; set services.%s.enabled=false or point its scaleTargetRef.name at another workload" . $key $target $key) -}}
{{- end -}}
{{- $_ := set $seen $target $key -}}
{{- end -}}
{{- end -}}
{{- end -}}
