{{/* Names and labels. */}}
{{- define "nomnom.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "nomnom.fullname" -}}
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

{{- define "nomnom.gateway.fullname" -}}
{{- printf "%s-gateway" (include "nomnom.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "nomnom.worker.fullname" -}}
{{- printf "%s-worker" (include "nomnom.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "nomnom.secretName" -}}
{{- printf "%s-secrets" (include "nomnom.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "nomnom.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "nomnom.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "gateway"). */}}
{{- define "nomnom.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nomnom.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "nomnom.image" -}}
{{- printf "%s:%s" .image.repository (default .ctx.Chart.AppVersion .image.tag) -}}
{{- end -}}

{{/* Service name of the official NATS chart installed in the same release
(nats.sameRelease), mirroring that chart's own fullname rule. */}}
{{- define "nomnom.natsFullname" -}}
{{- if .Values.nats.fullnameOverride -}}
{{- .Values.nats.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains "nats" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-nats" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* NATS_URL: the same release's NATS client service, or nats.url. */}}
{{- define "nomnom.natsURL" -}}
{{- if .Values.nats.sameRelease -}}
{{- printf "nats://%s.%s.svc.cluster.local:4222" (include "nomnom.natsFullname" .) .Release.Namespace -}}
{{- else -}}
{{- required "nats.url is required unless nats.sameRelease=true" .Values.nats.url -}}
{{- end -}}
{{- end -}}

{{/* host:port KEDA polls for consumer lag. */}}
{{- define "nomnom.natsMonitoringEndpoint" -}}
{{- if .Values.nats.sameRelease -}}
{{- printf "%s-headless.%s.svc.cluster.local:8222" (include "nomnom.natsFullname" .) .Release.Namespace -}}
{{- else -}}
{{- required "nats.monitoringEndpoint is required for the KEDA scaler" .Values.nats.monitoringEndpoint -}}
{{- end -}}
{{- end -}}

{{/*
lagThreshold of the KEDA scaler: worker.keda.lagThreshold when set, else each
replica's equal share of the consumer-wide MaxAckPending window
(maxAckPending / maxReplicaCount, rounded down). See values.yaml.
*/}}
{{- define "nomnom.worker.lagThreshold" -}}
{{- $w := .Values.worker -}}
{{- if gt (int $w.keda.lagThreshold) 0 -}}
{{- int $w.keda.lagThreshold -}}
{{- else -}}
{{- if lt (int $w.keda.maxReplicaCount) 1 -}}
{{- fail "worker.keda.maxReplicaCount must be at least 1" -}}
{{- end -}}
{{- $share := div (int $w.maxAckPending) (int $w.keda.maxReplicaCount) -}}
{{- if lt (int $share) (int $w.batchSize) -}}
{{- fail (printf "worker.maxAckPending (%d) / worker.keda.maxReplicaCount (%d) = %d is below worker.batchSize (%d): replicas past maxAckPending/batchSize would find no room in the consumer's in-flight window; raise maxAckPending or lower maxReplicaCount, or set worker.keda.lagThreshold" (int $w.maxAckPending) (int $w.keda.maxReplicaCount) (int $share) (int $w.batchSize)) -}}
{{- end -}}
{{- $share -}}
{{- end -}}
{{- end -}}

{{/* "true" when the KEDA ScaledObject is rendered for the worker. */}}
{{- define "nomnom.worker.useKeda" -}}
{{- if and .Values.worker.keda.enabled (.Capabilities.APIVersions.Has "keda.sh/v1alpha1") -}}true{{- end -}}
{{- end -}}

{{/* "true" when the CPU HPA fallback is rendered for the worker. */}}
{{- define "nomnom.worker.useHPA" -}}
{{- if and (not (include "nomnom.worker.useKeda" .)) .Values.worker.autoscaling.enabled -}}true{{- end -}}
{{- end -}}

{{/* Database and credential presence. */}}
{{- define "nomnom.hasDatabase" -}}
{{- if or .Values.database.url .Values.database.existingSecret -}}true{{- end -}}
{{- end -}}

{{- define "nomnom.hasAPIKeys" -}}
{{- if or .Values.apiKeys.keys .Values.apiKeys.existingSecret -}}true{{- end -}}
{{- end -}}

{{/* Which NATS credentials are configured, from values or an existing Secret. */}}
{{- define "nomnom.nats.has" -}}
{{- $a := .ctx.Values.natsAuth -}}
{{- if $a.existingSecret -}}
{{- if index $a.existingSecretHas .what -}}true{{- end -}}
{{- else if index $a .what -}}true{{- end -}}
{{- end -}}

{{- define "nomnom.natsAuthSecretName" -}}
{{- default (include "nomnom.secretName" .) .Values.natsAuth.existingSecret -}}
{{- end -}}

{{/* "true" when the chart must create its own Secret. */}}
{{- define "nomnom.createSecret" -}}
{{- $a := .Values.natsAuth -}}
{{- if and .Values.database.url (not .Values.database.existingSecret) -}}true
{{- else if and .Values.apiKeys.keys (not .Values.apiKeys.existingSecret) -}}true
{{- else if and (not $a.existingSecret) (or $a.creds $a.nkeySeed $a.password $a.token) -}}true
{{- end -}}
{{- end -}}

{{/*
Environment shared by the gateway, the worker and the migrations: NATS,
topology, logging and, when configured, the database. Secrets only by
secretKeyRef or as mounted files.
*/}}
{{- define "nomnom.commonEnv" -}}
- name: NATS_URL
  value: {{ include "nomnom.natsURL" . | quote }}
- name: NATS_STREAM
  value: {{ .Values.topology.stream | quote }}
- name: NATS_SUBJECT_PREFIX
  value: {{ .Values.topology.subjectPrefix | quote }}
- name: NATS_STATUS_BUCKET
  value: {{ .Values.topology.statusBucket | quote }}
- name: NATS_REPLICAS
  value: {{ .Values.topology.replicas | quote }}
- name: LOG_FORMAT
  value: {{ .Values.log.format | quote }}
- name: LOG_LEVEL
  value: {{ .Values.log.level | quote }}
{{- if include "nomnom.hasDatabase" . }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ default (include "nomnom.secretName" .) .Values.database.existingSecret }}
      key: {{ ternary .Values.database.existingSecretKey "DATABASE_URL" (not (empty .Values.database.existingSecret)) }}
{{- end }}
{{- if include "nomnom.nats.has" (dict "ctx" . "what" "creds") }}
- name: NATS_CREDS
  value: /etc/nomnom/nats/nats.creds
{{- end }}
{{- if include "nomnom.nats.has" (dict "ctx" . "what" "nkeySeed") }}
- name: NATS_NKEY
  value: /etc/nomnom/nats/nats.nkey
{{- end }}
{{- if .Values.natsAuth.user }}
- name: NATS_USER
  value: {{ .Values.natsAuth.user | quote }}
{{- end }}
{{- if include "nomnom.nats.has" (dict "ctx" . "what" "password") }}
- name: NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "nomnom.natsAuthSecretName" . }}
      key: {{ .Values.natsAuth.passwordKey }}
{{- end }}
{{- if include "nomnom.nats.has" (dict "ctx" . "what" "token") }}
- name: NATS_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "nomnom.natsAuthSecretName" . }}
      key: {{ .Values.natsAuth.tokenKey }}
{{- end }}
{{- if .Values.natsTLS.existingSecret }}
{{- if .Values.natsTLS.ca }}
- name: NATS_TLS_CA
  value: /etc/nomnom/nats-tls/ca.crt
{{- end }}
{{- if .Values.natsTLS.clientCert }}
- name: NATS_TLS_CERT
  value: /etc/nomnom/nats-tls/tls.crt
- name: NATS_TLS_KEY
  value: /etc/nomnom/nats-tls/tls.key
{{- end }}
{{- end }}
{{- end -}}

{{/* Secret-file volumes for NATS credentials and TLS. */}}
{{- define "nomnom.natsVolumes" -}}
{{- $creds := include "nomnom.nats.has" (dict "ctx" . "what" "creds") -}}
{{- $nkey := include "nomnom.nats.has" (dict "ctx" . "what" "nkeySeed") -}}
{{- if or $creds $nkey }}
- name: nats-auth
  secret:
    secretName: {{ include "nomnom.natsAuthSecretName" . }}
    defaultMode: 0440
    items:
      {{- if $creds }}
      - key: {{ .Values.natsAuth.credsKey }}
        path: nats.creds
      {{- end }}
      {{- if $nkey }}
      - key: {{ .Values.natsAuth.nkeySeedKey }}
        path: nats.nkey
      {{- end }}
{{- end }}
{{- if .Values.natsTLS.existingSecret }}
- name: nats-tls
  secret:
    secretName: {{ .Values.natsTLS.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{- define "nomnom.natsVolumeMounts" -}}
{{- if or (include "nomnom.nats.has" (dict "ctx" . "what" "creds")) (include "nomnom.nats.has" (dict "ctx" . "what" "nkeySeed")) }}
- name: nats-auth
  mountPath: /etc/nomnom/nats
  readOnly: true
{{- end }}
{{- if .Values.natsTLS.existingSecret }}
- name: nats-tls
  mountPath: /etc/nomnom/nats-tls
  readOnly: true
{{- end }}
{{- end -}}

{{/* Changes to the chart's Secret roll the pods. */}}
{{- define "nomnom.secretChecksum" -}}
checksum/secrets: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end -}}

{{/* Fails early when a process that needs PostgreSQL has no DATABASE_URL. */}}
{{- define "nomnom.validate" -}}
{{- if and (or .Values.worker.enabled .Values.migrations.enabled) (not (include "nomnom.hasDatabase" .)) -}}
{{- fail "database.url or database.existingSecret is required: the worker and the migrations write to PostgreSQL" -}}
{{- end -}}
{{- if and .Values.natsAuth.user (not (include "nomnom.nats.has" (dict "ctx" . "what" "password"))) -}}
{{- fail "natsAuth.user needs natsAuth.password (or natsAuth.existingSecretHas.password with natsAuth.existingSecret)" -}}
{{- end -}}
{{- end -}}
