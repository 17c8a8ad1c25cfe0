{{/*
DCGM mode (metricsSource: dcgm): an existing NVIDIA dcgm-exporter supplies the GPU series, and these
recording rules serve them under the metric contract's names and labels, so the adapter rules, HPAs,
dashboards, alerts and doctor read the same series as with the chart's own exporter.

dcgm-exporter's series and labels (its default counters): DCGM_FI_DEV_GPU_UTIL (percent, 0-100),
DCGM_FI_DEV_FB_USED / DCGM_FI_DEV_FB_FREE / DCGM_FI_DEV_FB_RESERVED (MiB: the contract's "MB" is MiB too, so
no scaling), DCGM_FI_DEV_GPU_TEMP (degrees C); labels gpu, UUID, device, modelName, Hostname,
DCGM_FI_DRIVER_VERSION and, with its Kubernetes pod mapping, namespace, pod, container.
*/}}

{{/* "true" in DCGM mode. */}}
{{- define "gpu-autoscaling.dcgm" -}}
{{- if eq (.Values.metricsSource | default "exporter") "dcgm" -}}true{{- end -}}
{{- end -}}

{{/*
Wraps a PromQL expression over dcgm-exporter series in the label mapping to the contract: node from
Hostname, uuid from UUID, model from modelName; namespace, pod and container from exported_namespace,
exported_pod and exported_container when Prometheus renamed them (a scrape with honor_labels off, the GPU
Operator's ServiceMonitor default), which are then dropped. dcgm-exporter's own labels are kept.
*/}}
{{- define "gpu-autoscaling.dcgmContractLabels" -}}
{{- $e := . -}}
{{- range $pair := list (list "node" "Hostname") (list "uuid" "UUID") (list "model" "modelName") (list "namespace" "exported_namespace") (list "pod" "exported_pod") (list "container" "exported_container") -}}
{{- $e = printf "label_replace(%s, %q, \"$1\", %q, \"(.+)\")" $e (index $pair 0) (index $pair 1) -}}
{{- end -}}
{{- range $l := list "exported_namespace" "exported_pod" "exported_container" -}}
{{- $e = printf "label_replace(%s, %q, \"\", %q, \".*\")" $e $l $l -}}
{{- end -}}
{{- $e -}}
{{- end -}}

{{/* The recording rules of DCGM mode, as one rules group (a dict). */}}
{{- define "gpu-autoscaling.dcgmRecordingGroup" -}}
{{- $d := .Values.dcgm -}}
{{- $sel := printf "{job=~%q}" $d.job -}}
{{- $util := printf "DCGM_FI_DEV_GPU_UTIL%s" $sel -}}
{{- with $d.utilizationWindow -}}
{{- $util = printf "avg_over_time(DCGM_FI_DEV_GPU_UTIL%s[%s])" $sel . -}}
{{- end -}}
{{- $used := printf "DCGM_FI_DEV_FB_USED%s" $sel -}}
{{- $total := printf "DCGM_FI_DEV_FB_USED%s + DCGM_FI_DEV_FB_FREE%s + (DCGM_FI_DEV_FB_RESERVED%s or 0 * DCGM_FI_DEV_FB_USED%s)" $sel $sel $sel $sel -}}
{{- $rules := list
  (dict "record" "gpu_utilization_percent" "expr" (include "gpu-autoscaling.dcgmContractLabels" $util))
  (dict "record" "gpu_memory_usage_mb" "expr" (include "gpu-autoscaling.dcgmContractLabels" $used))
  (dict "record" "gpu_memory_total_mb" "expr" (include "gpu-autoscaling.dcgmContractLabels" $total))
  (dict "record" "gpu_temperature_celsius" "expr" (include "gpu-autoscaling.dcgmContractLabels" (printf "DCGM_FI_DEV_GPU_TEMP%s" $sel)))
  (dict "record" "gpu_exporter_up" "expr" (printf "label_replace(up%s, \"backend\", \"dcgm\", \"\", \"\")" $sel)) -}}
{{- $group := dict "name" "gpu-autoscaling-dcgm" "rules" $rules -}}
{{- with $d.interval -}}
{{- $_ := set $group "interval" . -}}
{{- end -}}
{{- toJson $group -}}
{{- end -}}

{{/*
Checks of metricsSource that values.schema.json cannot express; each message names the fields and the fix.
*/}}
{{- define "gpu-autoscaling.validateMetricsSource" -}}
{{- if include "gpu-autoscaling.dcgm" . -}}
{{- if .Values.exporter.enabled -}}
{{- fail "metricsSource=dcgm reads an existing dcgm-exporter, but exporter.enabled=true also deploys this chart's exporter: both would serve gpu_utilization_percent and the other contract series for the same GPUs. Set exporter.enabled=false (see values/dcgm.yaml), or metricsSource=exporter to use the chart's exporter" -}}
{{- end -}}
{{- if not (or .Values.prometheusRule.enabled .Values.prometheusRule.configMap) -}}
{{- fail "metricsSource=dcgm serves dcgm-exporter's series under the contract names through recording rules, which only the PrometheusRule or the rules-file ConfigMap carries: set prometheusRule.enabled=true (prometheus-operator) or prometheusRule.configMap=true (load the file into Prometheus' rule_files)" -}}
{{- end -}}
{{- end -}}
{{- end -}}
