{{/* Chart name, truncated to the 63 characters DNS labels allow. */}}
{{- define "smtpbridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified app name. */}}
{{- define "smtpbridge.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "smtpbridge.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "smtpbridge.labels" -}}
helm.sh/chart: {{ include "smtpbridge.chart" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: smtpbridge
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/* Selector labels for one component: include "smtpbridge.selectorLabels" (list . "dispatcher") */}}
{{- define "smtpbridge.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "smtpbridge.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "smtpbridge.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Resolve a binding's sink: "worker:NAME" becomes the worker's headless Service over dns:///. */}}
{{- define "smtpbridge.sinkTarget" -}}
{{- $root := index . 0 -}}
{{- $sink := index . 1 -}}
{{- if hasPrefix "worker:" $sink -}}
{{- $name := trimPrefix "worker:" $sink -}}
{{- $port := 50051 -}}
{{- range $root.Values.workers }}{{ if eq .name $name }}{{ $port = .port }}{{ end }}{{ end -}}
{{- printf "dns:///%s-worker-%s.%s.svc.cluster.local:%v" (include "smtpbridge.fullname" $root) $name $root.Release.Namespace $port -}}
{{- else -}}
{{- $sink -}}
{{- end -}}
{{- end -}}

{{/* The Secret with the dispatcher's TLS files (tls.crt, tls.key, ca.crt). */}}
{{- define "smtpbridge.dispatcherTlsSecret" -}}
{{- default (printf "%s-dispatcher-tls" (include "smtpbridge.fullname" .)) .Values.dispatcher.tls.existingSecret -}}
{{- end -}}

{{/* A token crosses the pod network: only over TLS (the dispatcher refuses it in plaintext). */}}
{{- define "smtpbridge.checkAdminToken" -}}
{{- if and .Values.dispatcher.adminToken.existingSecret (not .Values.dispatcher.tls.enabled) -}}
{{- fail "dispatcher.adminToken.existingSecret needs dispatcher.tls.enabled: the dispatcher refuses an admin token sent in plaintext from another pod (docs/security.md)" -}}
{{- end -}}
{{- end -}}
