{{/* Name used in labels; stable whether the chart is installed alone or as the umbrella's `adapter` alias. */}}
{{- define "custom-metrics-adapter.name" -}}
{{- default "custom-metrics-adapter" .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full object name: <release>-<name>, or the release name when it already contains the name. */}}
{{- define "custom-metrics-adapter.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "custom-metrics-adapter.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "custom-metrics-adapter.chart" -}}
{{- printf "custom-metrics-adapter-%s" .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: immutable in a Deployment, so name and instance only. */}}
{{- define "custom-metrics-adapter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "custom-metrics-adapter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "custom-metrics-adapter.labels" -}}
{{ include "custom-metrics-adapter.selectorLabels" . }}
app.kubernetes.io/component: adapter
app.kubernetes.io/part-of: gpu-autoscaling
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ include "custom-metrics-adapter.chart" . }}
{{- end -}}

{{- define "custom-metrics-adapter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "custom-metrics-adapter.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "custom-metrics-adapter.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "custom-metrics-adapter.tlsSecretName" -}}
{{- printf "%s-tls" (include "custom-metrics-adapter.fullname" .) -}}
{{- end -}}

{{/* The Secret the adapter serves with: the user's with tls.source=existingSecret, else the chart's (or cert-manager's). */}}
{{- define "custom-metrics-adapter.servingSecretName" -}}
{{- if eq .Values.tls.source "existingSecret" -}}
{{- .Values.tls.existingSecret.name -}}
{{- else -}}
{{- include "custom-metrics-adapter.tlsSecretName" . -}}
{{- end -}}
{{- end -}}

{{/*
"true" when lookup reaches a cluster. Under `helm template` (Argo CD), `helm install|upgrade --dry-run`
(client side) and `helm lint` every lookup returns an empty map. kube-system is asked only when the release
namespace is not there: a first `helm install --create-namespace` renders before it creates the namespace.
*/}}
{{- define "custom-metrics-adapter.clusterReachable" -}}
{{- if or (lookup "v1" "Namespace" "" .Release.Namespace) (lookup "v1" "Namespace" "" "kube-system") -}}true{{- end -}}
{{- end -}}

{{/* The warning carried by the generated TLS objects when no cluster was reachable (annotation value). */}}
{{- define "custom-metrics-adapter.tlsWarning" -}}
adapter.tls.source=helm rendered without cluster access (helm template, Argo CD, client-side dry run): the CA and serving certificate are new on every render, so this Secret and the APIServices' caBundle change on every sync; use adapter.tls.source=existingSecret or certManager for GitOps
{{- end -}}

{{/* DNS names the aggregator verifies: <service>.<namespace>.svc is the one it checks. */}}
{{- define "custom-metrics-adapter.dnsNames" -}}
{{- $svc := include "custom-metrics-adapter.fullname" . -}}
{{- list $svc (printf "%s.%s" $svc .Release.Namespace) (printf "%s.%s.svc" $svc .Release.Namespace) (printf "%s.%s.svc.cluster.local" $svc .Release.Namespace) | toJson -}}
{{- end -}}

{{- define "custom-metrics-adapter.full" -}}
{{- if eq .Values.mode "full" -}}true{{- end -}}
{{- end -}}

{{/*
The prometheus-adapter configuration, generated from the metric contract: each per-pod GPU metric is served
under its own name, aggregated over the GPUs of the pod; the optional request-rate rule serves
rate(<series>) per pod. Series without namespace/pod (GPUs not allocated to a pod) are not served.
*/}}
{{- define "custom-metrics-adapter.config" -}}
{{- $rules := list -}}
{{- $resources := dict "overrides" (dict "namespace" (dict "resource" "namespace") "pod" (dict "resource" "pod")) -}}
{{- range .Values.rules.podGPUMetrics -}}
{{- $rule := dict
  "seriesQuery" (printf "%s{namespace!=\"\",pod!=\"\"}" .series)
  "resources" $resources
  "name" (dict "matches" (printf "^%s$" .series) "as" .series)
  "metricsQuery" (printf "%s(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)" .aggregation) -}}
{{- $rules = append $rules $rule -}}
{{- end -}}
{{- with .Values.rules.requestRate -}}
{{- if .enabled -}}
{{- $rule := dict
  "seriesQuery" (printf "%s{namespace!=\"\",pod!=\"\"}" .series)
  "resources" $resources
  "name" (dict "matches" (printf "^%s$" .series) "as" .metricName)
  "metricsQuery" (printf "sum(rate(<<.Series>>{<<.LabelMatchers>>}[%s])) by (<<.GroupBy>>)" .window) -}}
{{- $rules = append $rules $rule -}}
{{- end -}}
{{- end -}}
{{- range .Values.rules.custom -}}
{{- $rules = append $rules . -}}
{{- end -}}
{{- dict "rules" $rules | toYaml -}}
{{- end -}}

{{/*
Rules-only mode, values snippet for the prometheus-community prometheus-adapter chart: this chart's rules
(read back from custom-metrics-adapter.config, their only generator) under `rules.custom`, which that chart
appends to its own rules instead of replacing its configuration (as `rules.existing` does).
*/}}
{{- define "custom-metrics-adapter.rulesOnlyValues" -}}
{{- $own := include "custom-metrics-adapter.config" . | fromYaml -}}
{{- dict "rules" (dict "custom" $own.rules) | toYaml -}}
{{- end -}}

{{/*
Rules-only mode, config.yaml: this chart's rules alone, or, with rulesOnly.existingConfig, the existing
adapter's configuration with this chart's rules appended to its `rules`. Every existing rules, resourceRules
and externalRules entry is kept as it was; a chart metric an existing rule already serves fails the render.
*/}}
{{- define "custom-metrics-adapter.rulesOnlyConfig" -}}
{{- if not .Values.rulesOnly.existingConfig -}}
{{- include "custom-metrics-adapter.config" . -}}
{{- else -}}
{{- $where := "adapter.rulesOnly.existingConfig" -}}
{{- $existing := fromYaml .Values.rulesOnly.existingConfig -}}
{{- if hasKey $existing "Error" -}}
{{- fail (printf "%s is not a prometheus-adapter config.yaml (a YAML mapping with rules, resourceRules, externalRules): %v; pass the file with --set-file %s=<file>" $where $existing.Error $where) -}}
{{- end -}}
{{- range $key := keys $existing | sortAlpha -}}
{{- if not (has $key (list "rules" "resourceRules" "externalRules")) -}}
{{- fail (printf "%s: unknown top-level key %q; a prometheus-adapter config.yaml has only rules, resourceRules and externalRules (the adapter parses it strictly)" $where $key) -}}
{{- end -}}
{{- end -}}
{{- range $key := list "rules" "externalRules" -}}
{{- $list := list -}}
{{- if hasKey $existing $key -}}{{- $list = index $existing $key -}}{{- end -}}
{{- if and (not (kindIs "invalid" $list)) (not (kindIs "slice" $list)) -}}
{{- fail (printf "%s: %s must be a list of rules, got %s" $where $key (kindOf $list)) -}}
{{- end -}}
{{- range $i, $rule := $list -}}
{{- if or (not (kindIs "map" $rule)) (not (hasKey $rule "seriesQuery")) (not (kindIs "string" $rule.seriesQuery)) -}}
{{- fail (printf "%s: %s[%d] is not a rule (a mapping with a seriesQuery string)" $where $key $i) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and (hasKey $existing "resourceRules") (not (kindIs "invalid" $existing.resourceRules)) (not (kindIs "map" $existing.resourceRules)) -}}
{{- fail (printf "%s: resourceRules must be a mapping (cpu, memory, window), got %s" $where (kindOf $existing.resourceRules)) -}}
{{- end -}}
{{- $own := (include "custom-metrics-adapter.config" . | fromYaml).rules -}}
{{- $existingRules := $existing.rules | default list -}}
{{- range $r := $own -}}
{{- $series := include "custom-metrics-adapter.literalSeries" $r.seriesQuery -}}
{{- $name := "" -}}
{{- if $series -}}
{{- $name = include "custom-metrics-adapter.servedName" (dict "rule" $r "series" $series) -}}
{{- end -}}
{{- if $name -}}
{{- range $i, $e := $existingRules -}}
{{- $as := ($e.name | default dict).as | default "" | toString -}}
{{- $literal := and $as (not (contains "$" $as)) (eq $as $name) -}}
{{- if or $literal (eq (include "custom-metrics-adapter.servedName" (dict "rule" $e "series" $series)) $name) -}}
{{- if eq (toYaml $e) (toYaml $r) -}}
{{- fail (printf "%s: rules[%d] is this chart's own rule for %s: existingConfig looks like a config this chart already merged. Pass the adapter's original config.yaml (saved before pointing the adapter at %s; it stays in this release's values, so upgrade with --reuse-values)" $where $i $name $.Values.rulesOnly.configMapName) -}}
{{- end -}}
{{- fail (printf "%s: rules[%d] (seriesQuery %s) already serves the metric %s, which this chart serves too; the adapter would keep only one of them (the later rule silently shadows the other). Fix: exclude it from that rule in the file you pass (seriesFilters: [{isNot: \"^%s$\"}]; for the prometheus-community chart's rules.default rules, set rules.default=false and keep the ones you need in rules.custom), or stop serving %s here (adapter.rules)" $where $i $e.seriesQuery $name $series $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $merged := deepCopy $existing -}}
{{- $_ := set $merged "rules" (concat $existingRules $own) -}}
{{- toYaml $merged -}}
{{- end -}}
{{- end -}}

{{/*
The metric name a seriesQuery selects literally (`name{...}` or `{__name__="name",...}`); empty when it selects
by regular expression or not at all.
*/}}
{{- define "custom-metrics-adapter.literalSeries" -}}
{{- $lead := regexFind "^\\s*[a-zA-Z_:][a-zA-Z0-9_:]*" . | trim -}}
{{- if $lead -}}
{{- $lead -}}
{{- else -}}
{{- $eq := regexFind "__name__\\s*=\\s*(\"[a-zA-Z_:][a-zA-Z0-9_:]*\"|'[a-zA-Z_:][a-zA-Z0-9_:]*'|`[a-zA-Z_:][a-zA-Z0-9_:]*`)" . -}}
{{- if $eq -}}
{{- regexReplaceAll "^__name__\\s*=\\s*.(.*).$" $eq "${1}" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The name under which a prometheus-adapter discovery rule (dict "rule" "series") would serve the series, as
the adapter names it (its seriesQuery's metric-name matchers, seriesFilters, name.matches and name.as, with
the adapter's defaults); empty when the rule would not discover that series. Label matchers other than
__name__ are assumed to match: a rule that may serve the series counts as serving it.
*/}}
{{- define "custom-metrics-adapter.servedName" -}}
{{- $rule := .rule -}}
{{- $s := .series -}}
{{- $q := $rule.seriesQuery | default "" | toString -}}
{{- $ok := true -}}
{{- $lead := regexFind "^\\s*[a-zA-Z_:][a-zA-Z0-9_:]*" $q | trim -}}
{{- if and $lead (ne $lead $s) -}}{{- $ok = false -}}{{- end -}}
{{- range $m := regexFindAll "__name__\\s*(=~|!~|!=|=)\\s*(\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`)" $q -1 -}}
{{- $op := regexFind "(=~|!~|!=|=)" $m -}}
{{- $quoted := regexReplaceAll "^__name__\\s*(=~|!~|!=|=)\\s*" $m "" -}}
{{- $v := $quoted | trimPrefix (substr 0 1 $quoted) | trimSuffix (substr 0 1 $quoted) -}}
{{- if ne (substr 0 1 $quoted) "`" -}}
{{- $v = $v | replace "\\\\" "\x00" | replace "\\\"" "\"" | replace "\\'" "'" | replace "\x00" "\\" -}}
{{- end -}}
{{- $re := printf "^(?:%s)$" $v -}}
{{- if or (and (eq $op "=") (ne $s $v)) (and (eq $op "!=") (eq $s $v)) (and (eq $op "=~") (not (regexMatch $re $s))) (and (eq $op "!~") (regexMatch $re $s)) -}}
{{- $ok = false -}}
{{- end -}}
{{- end -}}
{{- range $f := $rule.seriesFilters | default list -}}
{{- if and $f.is (not (regexMatch (toString $f.is) $s)) -}}{{- $ok = false -}}{{- end -}}
{{- if and $f.isNot (regexMatch (toString $f.isNot) $s) -}}{{- $ok = false -}}{{- end -}}
{{- end -}}
{{- $matches := ($rule.name | default dict).matches | default "" | toString -}}
{{- $as := ($rule.name | default dict).as | default "" | toString -}}
{{- if and $matches (not (regexMatch $matches $s)) -}}{{- $ok = false -}}{{- end -}}
{{- if $ok -}}
{{- if not $matches -}}{{- $matches = ".*" -}}{{- end -}}
{{- if not $as -}}
{{- $plain := $matches | replace "\\\\" "" | replace "\\(" "" -}}
{{- $groups := sub (len (regexFindAll "\\(" $plain -1)) (len (regexFindAll "\\(\\?" $plain -1)) | add (len (regexFindAll "\\(\\?P?<" $plain -1)) -}}
{{- if eq (int $groups) 0 -}}{{- $as = "$0" -}}{{- else if eq (int $groups) 1 -}}{{- $as = "$1" -}}{{- end -}}
{{- end -}}
{{- if $as -}}
{{- regexReplaceAll (printf "^(?s:.*?)(?:%s)(?s:.*)$" $matches) $s $as -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Cross-field checks the schema cannot express. */}}
{{- define "custom-metrics-adapter.validate" -}}
{{- if and .Values.service.externalName (ne (int .Values.service.port) (int .Values.securePort)) -}}
{{- fail (printf "adapter.service.port (%v) must equal adapter.securePort (%v) when adapter.service.externalName is set: the aggregator dials %s:<service port> directly" .Values.service.port .Values.securePort .Values.service.externalName) -}}
{{- end -}}
{{- if and .Values.podDisruptionBudget.enabled (ne (toString .Values.podDisruptionBudget.minAvailable) "") (ne (toString .Values.podDisruptionBudget.maxUnavailable) "") -}}
{{- fail "adapter.podDisruptionBudget: set either minAvailable or maxUnavailable, not both (empty the other with \"\")" -}}
{{- end -}}
{{- if and .Values.podDisruptionBudget.enabled (eq (toString .Values.podDisruptionBudget.minAvailable) "") (eq (toString .Values.podDisruptionBudget.maxUnavailable) "") -}}
{{- fail "adapter.podDisruptionBudget: set minAvailable or maxUnavailable (or podDisruptionBudget.enabled=false)" -}}
{{- end -}}
{{- if and .Values.podDisruptionBudget.enabled (eq (toString .Values.podDisruptionBudget.minAvailable) (toString .Values.replicas)) -}}
{{- fail (printf "adapter.podDisruptionBudget.minAvailable (%v) equals adapter.replicas: no replica could ever be evicted and node drains would hang; lower minAvailable or raise replicas" .Values.podDisruptionBudget.minAvailable) -}}
{{- end -}}
{{- if include "custom-metrics-adapter.full" . -}}
{{- include "custom-metrics-adapter.validateTLS" . -}}
{{- end -}}
{{- if and .Values.rulesOnly.existingConfig (include "custom-metrics-adapter.full" .) -}}
{{- fail "adapter.rulesOnly.existingConfig is only used with adapter.mode=rulesOnly (in full mode this chart's adapter serves its own rules); unset it or set adapter.mode=rulesOnly" -}}
{{- end -}}
{{- $seen := dict -}}
{{- range $i, $r := .Values.rules.podGPUMetrics -}}
{{- if hasKey $seen $r.series -}}
{{- fail (printf "adapter.rules.podGPUMetrics[%d]: series %s is listed twice; list each metric once" $i $r.series) -}}
{{- end -}}
{{- $_ := set $seen $r.series true -}}
{{- end -}}
{{- if and .Values.rules.requestRate.enabled (hasKey $seen .Values.rules.requestRate.metricName) -}}
{{- fail (printf "adapter.rules.requestRate.metricName %s collides with a GPU metric name; choose another name" .Values.rules.requestRate.metricName) -}}
{{- end -}}
{{- end -}}


{{/*
TLS checks (full mode): tls.existingSecret needs a Secret name and, unless the aggregator skips
verification, the PEM CA that goes into the caBundle; it is refused where it would be silently ignored.
*/}}
{{- define "custom-metrics-adapter.validateTLS" -}}
{{- $es := .Values.tls.existingSecret | default dict -}}
{{- $name := $es.name | default "" -}}
{{- $ca := $es.caBundle | default "" | trim -}}
{{- if eq .Values.tls.source "existingSecret" -}}
{{- if not $name -}}
{{- fail (printf "adapter.tls.existingSecret.name is empty: with adapter.tls.source=existingSecret set it to the kubernetes.io/tls Secret (keys tls.crt, tls.key) in namespace %s that the adapter serves with (create it first: see the chart README, \"GitOps: Argo CD and Flux\"), or choose adapter.tls.source helm or certManager" .Release.Namespace) -}}
{{- end -}}
{{- if eq $name (include "custom-metrics-adapter.tlsSecretName" .) -}}
{{- fail (printf "adapter.tls.existingSecret.name=%s is the Secret this chart owns with adapter.tls.source=helm (helm deletes it when a release moves off that mode); create your Secret under another name and set adapter.tls.existingSecret.name to it" $name) -}}
{{- end -}}
{{- if .Values.apiService.insecureSkipTLSVerify -}}
{{- if $ca -}}
{{- fail "adapter.tls.existingSecret.caBundle is set but adapter.apiService.insecureSkipTLSVerify=true makes the aggregator ignore it: set adapter.apiService.insecureSkipTLSVerify=false (recommended: the caBundle is then verified) or empty adapter.tls.existingSecret.caBundle" -}}
{{- end -}}
{{- else if not $ca -}}
{{- fail (printf "adapter.tls.existingSecret.caBundle is empty: with adapter.tls.source=existingSecret give the PEM text of the CA that signed the tls.crt of Secret %s (e.g. kubectl -n %s get secret %s -o jsonpath='{.data.ca\\.crt}' | base64 -d); both APIServices' caBundle come from it" $name .Release.Namespace $name) -}}
{{- else if hasPrefix "LS0tLS1CRUdJTi" $ca -}}
{{- fail "adapter.tls.existingSecret.caBundle looks base64-encoded: give the PEM text itself (-----BEGIN CERTIFICATE-----...; decode it with base64 -d), the chart base64-encodes it into the caBundle" -}}
{{- else if contains "PRIVATE KEY" $ca -}}
{{- fail "adapter.tls.existingSecret.caBundle holds a private key: give only the CA certificate (-----BEGIN CERTIFICATE----- block, the Secret's ca.crt), and keep the key in the Secret" -}}
{{- else if not (regexMatch `^(-----BEGIN CERTIFICATE-----\s+MI[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----\s*)+$` $ca) -}}
{{- fail "adapter.tls.existingSecret.caBundle is not a PEM certificate: give one or more -----BEGIN CERTIFICATE----- ... -----END CERTIFICATE----- blocks (the CA that signed the Secret's tls.crt, as text; in YAML use a block scalar: caBundle: |)" -}}
{{- end -}}
{{- else if or $name $ca -}}
{{- fail (printf "adapter.tls.existingSecret is set but adapter.tls.source=%s ignores it: set adapter.tls.source=existingSecret, or empty adapter.tls.existingSecret.name and adapter.tls.existingSecret.caBundle" .Values.tls.source) -}}
{{- end -}}
{{- end -}}
