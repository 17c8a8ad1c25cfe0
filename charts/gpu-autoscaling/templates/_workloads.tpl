{{/*
Recording rules that map each pod to the service (HPA) that scales it, through kube-state-metrics' owner
series rather than pod names: HPA -> its scaleTargetRef (kube_horizontalpodautoscaler_info), then pod ->
StatefulSet (kube_pod_owner) or pod -> ReplicaSet -> Deployment (kube_pod_owner, kube_replicaset_owner).
The dashboards join on the second, so a target named differently from its service key, a StatefulSet
target, and a workload whose name only starts like a service's are all mapped right. Restricted to this
release's HPAs in the release namespace, so two releases never record the same series.

  gpu_autoscaling:workload_service:info{namespace, service, horizontalpodautoscaler, workload, workload_kind} 1
  gpu_autoscaling:pod_service:info{namespace, pod, service, workload, workload_kind} 1
*/}}
{{- define "gpu-autoscaling.workloadRecordingGroup" -}}
{{- $ns := .Release.Namespace -}}
{{- $hpas := include "gpu-autoscaling.hpaNamesRegex" . -}}
{{- $hpaInfo := printf "kube_horizontalpodautoscaler_info{namespace=%q, horizontalpodautoscaler=~%q}" $ns $hpas -}}
{{- $workloadService := printf "max by (namespace, service, horizontalpodautoscaler, workload, workload_kind) (label_replace(label_replace(label_replace(%s, \"service\", \"$1\", \"horizontalpodautoscaler\", \"(.+)-hpa\"), \"workload\", \"$1\", \"scaletargetref_name\", \"(.+)\"), \"workload_kind\", \"$1\", \"scaletargetref_kind\", \"(.+)\"))" $hpaInfo -}}
{{- $statefulSetPods := printf "label_replace(label_replace(kube_pod_owner{namespace=%q, owner_kind=\"StatefulSet\"}, \"workload\", \"$1\", \"owner_name\", \"(.+)\"), \"workload_kind\", \"StatefulSet\", \"\", \"\")" $ns -}}
{{- $replicaSets := printf "max by (namespace, owner_name, workload) (label_replace(label_replace(kube_replicaset_owner{namespace=%q, owner_kind=\"Deployment\"}, \"workload\", \"$1\", \"owner_name\", \"(.+)\"), \"owner_name\", \"$1\", \"replicaset\", \"(.+)\"))" $ns -}}
{{- $deploymentPods := printf "label_replace(kube_pod_owner{namespace=%q, owner_kind=\"ReplicaSet\"} * on (namespace, owner_name) group_left (workload) %s, \"workload_kind\", \"Deployment\", \"\", \"\")" $ns $replicaSets -}}
{{- $podService := printf "max by (namespace, pod, service, workload, workload_kind) ((%s or %s) * on (namespace, workload, workload_kind) group_left (service) gpu_autoscaling:workload_service:info{namespace=%q})" $statefulSetPods $deploymentPods $ns -}}
{{- $rules := list
  (dict "record" "gpu_autoscaling:workload_service:info" "expr" $workloadService)
  (dict "record" "gpu_autoscaling:pod_service:info" "expr" $podService) -}}
{{- toJson (dict "name" "gpu-autoscaling-workloads" "rules" $rules) -}}
{{- end -}}
