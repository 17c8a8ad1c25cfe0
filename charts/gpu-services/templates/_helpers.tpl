{{/*
Full name of the chart's own objects: <release>-gpu-services, or the release name when it already contains
gpu-services. At most 48 characters, so <fullname>-device-plugin stays a valid name.
*/}}
{{- define "gpu-services.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 48 | trimSuffix "-" -}}
{{- else if contains "gpu-services" .Release.Name -}}
{{- .Release.Name | trunc 48 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-gpu-services" .Release.Name | trunc 48 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "gpu-services.chart" -}}
{{- printf "gpu-services-%s" .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels (immutable in Deployments and DaemonSets): name and instance only. Context: root, name. */}}
{{- define "gpu-services.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* Labels of every object. Context: root, name, component (default gpu-service). */}}
{{- define "gpu-services.labels" -}}
{{ include "gpu-services.selectorLabels" . }}
app: {{ .name }}
app.kubernetes.io/component: {{ .component | default "gpu-service" }}
app.kubernetes.io/part-of: medical-kg
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
helm.sh/chart: {{ include "gpu-services.chart" .root }}
{{- end -}}

{{/* Image reference of an image block; an empty tag means the chart's version (as internal/images tags it). */}}
{{- define "gpu-services.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.Version .image.tag) -}}
{{- end -}}

{{/* The load ConfigMap's name, and where the stand-in reads it (its --load-file default). */}}
{{- define "gpu-services.loadConfigMap" -}}
{{- printf "%s-load" (include "gpu-services.fullname" .) -}}
{{- end -}}
{{- define "gpu-services.loadDir" -}}
/etc/gpu-service/load
{{- end -}}
{{- define "gpu-services.loadKey" -}}
load.yaml
{{- end -}}

{{/* The kubelet's device-plugin folder: a kubelet constant (v1beta1.DevicePluginPath), whatever its --root-dir. */}}
{{- define "gpu-services.devicePluginPath" -}}
/var/lib/kubelet/device-plugins
{{- end -}}

{{/* Millicores of a CPU quantity ("200m", "2", "1.5"), or "" when it has another form. */}}
{{- define "gpu-services.millicores" -}}
{{- $q := toString . -}}
{{- if regexMatch "^[0-9]+(\\.[0-9]+)?m$" $q -}}
{{- trimSuffix "m" $q | float64 -}}
{{- else if regexMatch "^[0-9]+(\\.[0-9]+)?$" $q -}}
{{- mulf ($q | float64) 1000.0 -}}
{{- end -}}
{{- end -}}

{{/* MiB of a memory quantity ("512Mi", "8Gi", "1G", bytes), or "" when it has another form. */}}
{{- define "gpu-services.mebibytes" -}}
{{- $q := toString . -}}
{{- $factor := dict "Ki" (divf 1.0 1024.0) "Mi" 1.0 "Gi" 1024.0 "Ti" 1048576.0 "k" (divf 1000.0 1048576.0) "M" (divf 1000000.0 1048576.0) "G" (divf 1000000000.0 1048576.0) "T" (divf 1000000000000.0 1048576.0) "" (divf 1.0 1048576.0) -}}
{{- if regexMatch "^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$" $q -}}
{{- $unit := regexReplaceAll "^[0-9.]+" $q "" -}}
{{- mulf (regexFind "^[0-9]+(\\.[0-9]+)?" $q | float64) (get $factor $unit) -}}
{{- end -}}
{{- end -}}

{{/*
Render-time checks the schema cannot express, or that must hold without it (--skip-schema-validation).
Each message names the field and says what to write.
*/}}
{{- define "gpu-services.validate" -}}
{{- $v := .Values -}}
{{- if and (not (kindIs "invalid" $v.replicas)) (lt (int64 $v.replicas) 0) -}}
{{- fail (printf "replicas=%v: use a replica count of 0 or more (or null to leave spec.replicas to the HPA)" $v.replicas) -}}
{{- end -}}
{{- range $probe := list "livenessProbe" "readinessProbe" -}}
{{- $p := get $v $probe | default dict -}}
{{- range $field := list "periodSeconds" "timeoutSeconds" "failureThreshold" -}}
{{- if and (hasKey $p $field) (lt (int64 (get $p $field)) 1) -}}
{{- fail (printf "%s.%s=%v: use a positive whole number (e.g. %s.%s: %s)" $probe $field (get $p $field) $probe $field (ternary "3" "10" (eq $field "failureThreshold"))) -}}
{{- end -}}
{{- end -}}
{{- if and (hasKey $p "initialDelaySeconds") (lt (int64 $p.initialDelaySeconds) 0) -}}
{{- fail (printf "%s.initialDelaySeconds=%v: use 0 or more seconds" $probe $p.initialDelaySeconds) -}}
{{- end -}}
{{- end -}}
{{- if not (gt (float64 $v.load.maxCpuMillicores) 0.0) -}}
{{- fail (printf "load.maxCpuMillicores=%v: use a positive number of millicores, at most the CPU limit (e.g. 1000)" $v.load.maxCpuMillicores) -}}
{{- end -}}
{{- if not (gt (float64 $v.load.maxMemoryMiB) 0.0) -}}
{{- fail (printf "load.maxMemoryMiB=%v: use a positive number of MiB, 30 or more below the memory limit (e.g. 1024)" $v.load.maxMemoryMiB) -}}
{{- end -}}
{{- range $name, $svc := $v.services -}}
{{- if or (not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $name)) (gt (len $name) 63) -}}
{{- fail (printf "services.%s: a service name must be a lowercase DNS label (a-z, 0-9 and '-', starting and ending alphanumeric) of at most 63 characters, because it names the Deployment (and the HPA's scale target); rename the key" $name) -}}
{{- end -}}
{{- $svc = $svc | default dict -}}
{{- if ne (toString (dig "enabled" true $svc)) "false" -}}
{{- $res := $svc.resources | default $v.resources -}}
{{- $where := ternary (printf "services.%s.resources" $name) "resources" (hasKey $svc "resources") -}}
{{- $limits := $res.limits | default dict -}}
{{- $cpu := include "gpu-services.millicores" (get $limits "cpu") -}}
{{- if and $cpu (gt (float64 $v.load.maxCpuMillicores) (float64 $cpu)) -}}
{{- fail (printf "%s.limits.cpu=%v is below load.maxCpuMillicores=%v (service %s): the kernel would throttle what the load asks for; lower load.maxCpuMillicores or raise %s.limits.cpu to at least %vm" $where (get $limits "cpu") $v.load.maxCpuMillicores $name $where $v.load.maxCpuMillicores) -}}
{{- end -}}
{{- $mem := include "gpu-services.mebibytes" (get $limits "memory") -}}
{{- if and $mem (gt (addf (float64 $v.load.maxMemoryMiB) 30.0) (float64 $mem)) -}}
{{- fail (printf "%s.limits.memory=%v leaves less than 30 MiB above load.maxMemoryMiB=%v (service %s): the kernel would kill the stand-in; lower load.maxMemoryMiB or raise %s.limits.memory to at least %vMi" $where (get $limits "memory") $v.load.maxMemoryMiB $name $where (addf (float64 $v.load.maxMemoryMiB) 30.0 | ceil)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $dp := $v.devicePlugin -}}
{{- if or (lt (int64 $dp.devices) 0) (gt (int64 $dp.devices) 64) -}}
{{- fail (printf "devicePlugin.devices=%v: use 1 to 64 GPUs per node (0: the model's 8), the same count as the exporter's exporter.simulation.gpuCount" $dp.devices) -}}
{{- end -}}
{{- if not (has $dp.simulationModel (list "dgxa100" "dgxh100" "dgxh200")) -}}
{{- fail (printf "devicePlugin.simulationModel=%v: use dgxa100, dgxh100 or dgxh200, the same model as the exporter's exporter.simulation.model" $dp.simulationModel) -}}
{{- end -}}
{{- end -}}
