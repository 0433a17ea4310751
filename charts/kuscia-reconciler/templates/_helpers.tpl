{{/*
Names, labels and shared snippets. Names are cut to 63 characters, the limit
of a DNS label, which every Kubernetes object name here must fit.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "kuscia-reconciler.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's object name: fullnameOverride, else "<release>-<name>", else just
the release name when it already contains the chart name.
*/}}
{{- define "kuscia-reconciler.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "<chart>-<version>", as the helm.sh/chart label wants it. */}}
{{- define "kuscia-reconciler.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object of the release. */}}
{{- define "kuscia-reconciler.labels" -}}
helm.sh/chart: {{ include "kuscia-reconciler.chart" . }}
{{ include "kuscia-reconciler.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: controller
app.kubernetes.io/part-of: kuscia
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The labels that pick the controller's Pods; they never change after install. */}}
{{- define "kuscia-reconciler.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kuscia-reconciler.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount the controller runs as. */}}
{{- define "kuscia-reconciler.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kuscia-reconciler.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Lease the replicas campaign for. */}}
{{- define "kuscia-reconciler.leaseName" -}}
{{- default (include "kuscia-reconciler.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/* The image reference: a digest wins over a tag; the tag defaults to appVersion. */}}
{{- define "kuscia-reconciler.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
A name with a suffix, both within 63 characters: the fullname is cut, never
the suffix, so "-tasks" and "-leader-election" stay distinct.
*/}}
{{- define "kuscia-reconciler.suffixed" -}}
{{- $root := index . 0 }}
{{- $suffix := index . 1 }}
{{- $base := include "kuscia-reconciler.fullname" $root | trunc (int (sub 63 (len $suffix))) | trimSuffix "-" }}
{{- printf "%s%s" $base $suffix }}
{{- end }}

{{/* The one namespace whose KusciaTasks are watched, or "" for all. */}}
{{- define "kuscia-reconciler.watchNamespace" -}}
{{- if .Values.watchNamespaces }}{{ first .Values.watchNamespaces }}{{ end }}
{{- end }}

{{/*
The rules for KusciaTasks and the Events about them: in the ClusterRole, or in
the watched namespace's Role. The finalizer is set with an apply to the existing
task, so patch without create: an apply may never make a task.
*/}}
{{- define "kuscia-reconciler.taskRules" -}}
- apiGroups: ["kuscia.secretflow"]
  resources: ["kusciatasks"]
  verbs: ["list", "watch", "patch"]
- apiGroups: ["kuscia.secretflow"]
  resources: ["kusciatasks/status"]
  verbs: ["patch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
