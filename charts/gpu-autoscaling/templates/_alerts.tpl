{{/*
The alerting rules as a Prometheus rules document ({groups: [...]}); rendered both into the PrometheusRule
and, optionally, into a plain rules-file ConfigMap. Every expression uses only contract metrics (exporter),
kube-state-metrics (kube_*), kube-apiserver (aggregator_*) and `up`. In DCGM mode (metricsSource: dcgm) the
document starts with the recording rules that serve dcgm-exporter's series under the contract names
(_dcgm.tpl), and the exporter alerts watch dcgm-exporter's job (dcgm.job). The pod -> service recording rules
the dashboards join on (_workloads.tpl) come before the alerts in every mode.
*/}}
{{- define "gpu-autoscaling.alertRules" -}}
{{- $a := .Values.prometheusRule.alerts -}}
{{- $job := .Values.prometheusRule.exporterJob -}}
{{- $dcgm := include "gpu-autoscaling.dcgm" . -}}
{{- if $dcgm -}}
{{- $job = .Values.dcgm.job -}}
{{- end -}}
{{- $ns := .Release.Namespace -}}
{{- $rules := list -}}
{{- with $a.exporterDown -}}
{{- if and .enabled $dcgm -}}
{{- $rules = append $rules (dict
  "alert" "GPUMetricsExporterDown"
  "expr" (printf "up{job=~%q} == 0 or absent(up{job=~%q})" $job $job)
  "for" .for
  "labels" (dict "severity" .severity)
  "annotations" (dict
    "summary" "dcgm-exporter {{ $labels.instance }} is down, or no dcgm-exporter target exists"
    "description" "The dcgm-exporter target {{ $labels.instance }} (job {{ $labels.job }}) is not scraped, or Prometheus has no target of the job set in dcgm.job. HPAs on gpu_* metrics for pods on that node stop scaling. Check: kubectl get pods -A -l app=nvidia-dcgm-exporter -o wide and their logs, nvidia-smi on the node.")) -}}
{{- else if .enabled -}}
{{- $rules = append $rules (dict
  "alert" "GPUMetricsExporterDown"
  "expr" (printf "up{job=~%q} == 0 or gpu_exporter_up{job=~%q} == 0 or absent(up{job=~%q})" $job $job $job)
  "for" .for
  "labels" (dict "severity" .severity)
  "annotations" (dict
    "summary" "GPU metrics exporter {{ $labels.instance }} is down, cannot read its GPUs, or no exporter target exists"
    "description" (printf "The exporter target {{ $labels.instance }} (job {{ $labels.job }}) is not scraped or reports its GPU backend down. HPAs on gpu_* metrics for pods on that node stop scaling. Check: kubectl -n %s logs -l app=gpu-metrics-exporter, nvidia-smi on the node." $ns))) -}}
{{- end -}}
{{- end -}}
{{- with $a.gpuTemperatureHigh -}}
{{- if .enabled -}}
{{- $rules = append $rules (dict
  "alert" "GPUTemperatureHigh"
  "expr" (printf "max by (node, gpu, uuid) (gpu_temperature_celsius) > %v" (int .thresholdCelsius))
  "for" .for
  "labels" (dict "severity" .severity)
  "annotations" (dict
    "summary" "GPU {{ $labels.gpu }} on {{ $labels.node }} is at {{ $value }} °C"
    "description" (printf "GPU %s on node %s has been above %v °C for %s: check cooling and throttling." "{{ $labels.gpu }}" "{{ $labels.node }}" (int .thresholdCelsius) .for))) -}}
{{- end -}}
{{- end -}}
{{- with $a.hpaAtMaxReplicas -}}
{{- if .enabled -}}
{{- $hpas := include "gpu-autoscaling.hpaNamesRegex" $ -}}
{{- $rules = append $rules (dict
  "alert" "GPUServiceHPAAtMaxReplicas"
  "expr" (printf "kube_horizontalpodautoscaler_status_current_replicas{namespace=%q, horizontalpodautoscaler=~%q} >= on (namespace, horizontalpodautoscaler) kube_horizontalpodautoscaler_spec_max_replicas{namespace=%q, horizontalpodautoscaler=~%q}" $ns $hpas $ns $hpas)
  "for" .for
  "labels" (dict "severity" .severity)
  "annotations" (dict
    "summary" "HPA {{ $labels.horizontalpodautoscaler }} has been at maxReplicas"
    "description" (printf "HPA {{ $labels.horizontalpodautoscaler }} has run at its maximum of {{ $value }} replicas for %s: demand exceeds capacity. Raise services.<name>.maxReplicas or add GPU nodes." .for))) -}}
{{- end -}}
{{- end -}}
{{- with $a.customMetricsAPIUnavailable -}}
{{- if .enabled -}}
{{- $rules = append $rules (dict
  "alert" "CustomMetricsAPIUnavailable"
  "expr" "max by (name) (aggregator_unavailable_apiservice{name=~\"v1beta1.custom.metrics.k8s.io|v1beta2.custom.metrics.k8s.io\"}) == 1"
  "for" .for
  "labels" (dict "severity" .severity)
  "annotations" (dict
    "summary" "APIService {{ $labels.name }} is unavailable"
    "description" (printf "The custom metrics API {{ $labels.name }} has been unavailable for %s: HPAs on GPU metrics cannot scale and API discovery is degraded. Check: kubectl get apiservice {{ $labels.name }}; kubectl -n %s get pods -l app.kubernetes.io/name=custom-metrics-adapter." .for $ns))) -}}
{{- end -}}
{{- end -}}
{{- with $a.gpuMetricsMissingPodLabels -}}
{{- if .enabled -}}
{{- $rules = append $rules (dict
  "alert" "GPUMetricsMissingPodLabels"
  "expr" (printf "count by (node) (gpu_utilization_percent{pod=\"\"} > %v) or count by (node) (gpu_utilization_percent{exported_pod!=\"\"})" (int .minUtilizationPercent))
  "for" .for
  "labels" (dict "severity" .severity)
  "annotations" (dict
    "summary" "GPU series on {{ $labels.node }} are not attributed to pods"
    "description" (ternary "Busy GPUs on node {{ $labels.node }} report no pod label in dcgm-exporter's series. HPA Pods metrics ignore these GPUs. Check that dcgm-exporter maps GPUs to pods (DCGM_EXPORTER_KUBERNETES=true and the kubelet pod-resources socket mounted, the GPU Operator's defaults)." "Busy GPUs on node {{ $labels.node }} report no pod label, or pod labels were renamed to exported_pod. HPA Pods metrics ignore these GPUs. Check the exporter's pod-resources socket mount and that Prometheus scrapes it with honor_labels: true." (eq $dcgm "true")))) -}}
{{- end -}}
{{- end -}}
{{- $groups := list -}}
{{- if $dcgm -}}
{{- $groups = append $groups (include "gpu-autoscaling.dcgmRecordingGroup" . | fromJson) -}}
{{- end -}}
{{- $groups = append $groups (include "gpu-autoscaling.workloadRecordingGroup" . | fromJson) -}}
{{- $groups = append $groups (dict "name" "gpu-autoscaling" "rules" $rules) -}}
{{- dict "groups" $groups | toYaml -}}
{{- end -}}
