{{- define "gpu-services.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- define "gpu-services.labels" -}}
{{ include "gpu-services.selectorLabels" . }}
app: {{ .name }}
app.kubernetes.io/component: gpu-service
app.kubernetes.io/part-of: medical-kg
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "gpu-services-%s" .root.Chart.Version }}
{{- end -}}
