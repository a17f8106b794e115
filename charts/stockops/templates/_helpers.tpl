{{/*
Names and labels follow the `helm create` conventions: "<release>-stockops", or the release name
alone when it already contains "stockops" (so `helm install stockops` yields stockops-operator).
*/}}
{{- define "stockops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "stockops.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "stockops.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object; call with (dict "ctx" $ "component" "operator"). */}}
{{- define "stockops.labels" -}}
helm.sh/chart: {{ include "stockops.chart" .ctx }}
{{ include "stockops.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: stockops
{{- end }}

{{/* The immutable subset used in selectors; call with (dict "ctx" $ "component" "operator"). */}}
{{- define "stockops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "stockops.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "stockops.operatorName" -}}
{{- printf "%s-operator" (include "stockops.fullname" .) }}
{{- end }}

{{- define "stockops.mlflowName" -}}
{{- printf "%s-mlflow" (include "stockops.fullname" .) }}
{{- end }}

{{- define "stockops.redisName" -}}
{{- printf "%s-redis" (include "stockops.fullname" .) }}
{{- end }}

{{- define "stockops.qdrantName" -}}
{{- printf "%s-qdrant" (include "stockops.fullname" .) }}
{{- end }}

{{/*
The Qdrant the agent Jobs' semantic cache uses: the in-chart one, else qdrant.url (empty: cache off).
*/}}
{{- define "stockops.qdrantUrl" -}}
{{- if .Values.qdrant.enabled }}
{{- printf "http://%s.%s.svc:%d" (include "stockops.qdrantName" .) .Release.Namespace (int .Values.qdrant.port) }}
{{- else }}
{{- .Values.qdrant.url }}
{{- end }}
{{- end }}

{{- define "stockops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "stockops.operatorName" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
A StockOps image reference; call with (dict "ctx" $ "image" .Values.trainer.image).
Registry prefix, then the repository, then the image's own tag, image.tag, or the appVersion.
*/}}
{{- define "stockops.image" -}}
{{- $registry := trimSuffix "/" .ctx.Values.image.registry }}
{{- $repository := .image.repository }}
{{- if $registry }}
{{- $repository = printf "%s/%s" $registry $repository }}
{{- end }}
{{- $tag := .image.tag | default .ctx.Values.image.tag | default .ctx.Chart.AppVersion }}
{{- printf "%s:%s" $repository $tag }}
{{- end }}

{{/* The MLflow URI given to the operator, training pods and predictors. */}}
{{- define "stockops.mlflowTrackingUri" -}}
{{- if .Values.mlflow.enabled }}
{{- printf "http://%s.%s.svc:%d" (include "stockops.mlflowName" .) .Release.Namespace (int .Values.mlflow.port) }}
{{- else }}
{{- required "mlflow.trackingUri is required when mlflow.enabled is false" .Values.mlflow.trackingUri }}
{{- end }}
{{- end }}

{{/* The Redis URL (empty when there is none). Database 0; fully qualified so other namespaces resolve it. */}}
{{- define "stockops.redisUrl" -}}
{{- if .Values.redis.enabled }}
{{- printf "redis://%s.%s.svc:%d/0" (include "stockops.redisName" .) .Release.Namespace (int .Values.redis.port) }}
{{- else }}
{{- .Values.redis.url }}
{{- end }}
{{- end }}

{{/*
Environment of the training and predictor containers the operator creates, as the JSON object
STOCKOPS_OPERATOR_EXTRA_ENV expects: workloadEnv plus STOCKOPS_REDIS_URL when Redis is configured.
*/}}
{{- define "stockops.workloadEnvJson" -}}
{{- $env := deepCopy .Values.workloadEnv }}
{{- $redis := include "stockops.redisUrl" . }}
{{- if $redis }}
{{- $_ := set $env "STOCKOPS_REDIS_URL" $redis }}
{{- end }}
{{- toJson $env }}
{{- end }}

{{/*
The operator's RBAC rules, read from files/operator-rbac.yaml: a byte-identical copy of what
`python -m stockops.operator.rbac` generates from OPERATOR_RULES (tests/unit/test_chart_rbac.py fails
on any difference; scripts/sync-chart.sh regenerates it). Returns the ClusterRole's rules as YAML.
*/}}
{{- define "stockops.operatorRules" -}}
{{- $rules := list }}
{{- $text := .Files.Get "files/operator-rbac.yaml" }}
{{- if not $text }}
{{- fail "files/operator-rbac.yaml is missing from the chart: run scripts/sync-chart.sh" }}
{{- end }}
{{- range $document := regexSplit "(?m)^---[ \t]*$" $text -1 }}
{{- $object := fromYaml $document }}
{{- if hasKey $object "Error" }}
{{- fail (printf "files/operator-rbac.yaml does not parse: %s" $object.Error) }}
{{- end }}
{{- if eq (get $object "kind") "ClusterRole" }}
{{- $rules = $object.rules }}
{{- end }}
{{- end }}
{{- if not $rules }}
{{- fail "files/operator-rbac.yaml has no ClusterRole with rules: run scripts/sync-chart.sh" }}
{{- end }}
{{- toYaml $rules }}
{{- end }}

{{/*
Resources that exist only at cluster scope. With operator.watchNamespaces, rules on these stay in a
ClusterRole and every other rule moves to a Role in each watched namespace.
*/}}
{{- define "stockops.clusterScopedResources" -}}
{{- list "namespaces" "nodes" "persistentvolumes" "customresourcedefinitions" "clusterroles" "clusterrolebindings" "storageclasses" "priorityclasses" | toJson }}
{{- end }}

{{/* Rules split by scope: {"cluster": [...], "namespaced": [...]}, as JSON. */}}
{{- define "stockops.operatorRulesByScope" -}}
{{- $clusterScoped := include "stockops.clusterScopedResources" . | fromJsonArray }}
{{- $cluster := list }}
{{- $namespaced := list }}
{{- range $rule := include "stockops.operatorRules" . | fromYamlArray }}
{{- $kinds := dict }}
{{- range $resource := $rule.resources }}
{{- $_ := set $kinds (ternary "cluster" "namespaced" (has (first (splitList "/" $resource)) $clusterScoped)) true }}
{{- end }}
{{- if eq (len $kinds) 2 }}
{{- fail (printf "operator RBAC rule %s mixes cluster-scoped and namespaced resources; split it in stockops.operator.rbac" (toJson $rule.resources)) }}
{{- end }}
{{- if hasKey $kinds "cluster" }}
{{- $cluster = append $cluster $rule }}
{{- else }}
{{- $namespaced = append $namespaced $rule }}
{{- end }}
{{- end }}
{{- dict "cluster" $cluster "namespaced" $namespaced | toJson }}
{{- end }}

{{/*
A pod securityContext: the chart-wide podSecurityContext with a component's overrides on top (MLflow
and Redis run as their images' own users); call with (dict "ctx" $ "overrides" .Values.redis.podSecurityContext).
*/}}
{{- define "stockops.podSecurityContext" -}}
{{- toYaml (mergeOverwrite (deepCopy .ctx.Values.podSecurityContext) .overrides) }}
{{- end }}

{{/*
Host headers the in-chart MLflow accepts (it rejects others against DNS rebinding): the Service name
in every form a pod may use (short, namespaced, .svc[.cluster.local], with or without port),
localhost for port-forwarding, private IPv4 ranges for direct pod/ClusterIP access, and extras.
*/}}
{{- define "stockops.mlflowAllowedHosts" -}}
{{- $name := include "stockops.mlflowName" . }}
{{- $namespaced := printf "%s.%s" $name .Release.Namespace }}
{{- $hosts := list $name (printf "%s:*" $name) $namespaced (printf "%s:*" $namespaced) (printf "%s.svc*" $namespaced) }}
{{- $hosts = concat $hosts (list "localhost" "localhost:*" "127.0.0.1" "127.0.0.1:*" "10.*" "192.168.*") }}
{{- range $octet := untilStep 16 32 1 }}
{{- $hosts = append $hosts (printf "172.%d.*" $octet) }}
{{- end }}
{{- concat $hosts .Values.mlflow.extraAllowedHosts | join "," }}
{{- end }}

{{/* The container securityContext shared by every container of the chart. */}}
{{- define "stockops.containerSecurityContext" -}}
{{- toYaml .Values.securityContext }}
{{- end }}

{{/* imagePullSecrets of the chart's pods; empty when there are none. */}}
{{- define "stockops.imagePullSecrets" -}}
{{- with .Values.image.pullSecrets -}}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end }}

{{/* The operator's ServiceAccount as an RBAC subject. */}}
{{- define "stockops.operatorSubject" -}}
- kind: ServiceAccount
  name: {{ include "stockops.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end }}

{{/* MLflow's ServiceAccount: its own when mlflow.serviceAccount.create, else the name given (or none). */}}
{{- define "stockops.mlflowServiceAccount" -}}
{{- if .Values.mlflow.serviceAccount.create -}}
{{- .Values.mlflow.serviceAccount.name | default (include "stockops.mlflowName" .) -}}
{{- else -}}
{{- .Values.mlflow.serviceAccount.name -}}
{{- end -}}
{{- end -}}
