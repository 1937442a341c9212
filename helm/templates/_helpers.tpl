{{/* Names: component suffixes (-api, -media, -redis) must still fit in 63 characters. */}}
{{- define "seed-sfu.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 50 | trimSuffix "-" }}
{{- end }}

{{- define "seed-sfu.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "seed-sfu.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object; call with (dict "ctx" $ "component" "api"). */}}
{{- define "seed-sfu.labels" -}}
helm.sh/chart: {{ include "seed-sfu.chart" .ctx }}
{{ include "seed-sfu.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: seed-sfu
{{- end }}

{{- define "seed-sfu.selectorLabels" -}}
app.kubernetes.io/name: {{ include "seed-sfu.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{- define "seed-sfu.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "seed-sfu.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "seed-sfu.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* The chart's own Secret is needed unless the keys, the Redis URL and any TURN secret come from the operator's. */}}
{{- define "seed-sfu.ownSecret" -}}
{{- if or (not .Values.auth.existingSecret) (not .Values.redis.existingSecret) (include "seed-sfu.turnOwnSecret" .) }}true{{ end }}
{{- end }}

{{- define "seed-sfu.apiKeysSecretName" -}}
{{- .Values.auth.existingSecret | default (include "seed-sfu.fullname" .) }}
{{- end }}

{{- define "seed-sfu.apiKeysSecretKey" -}}
{{- if .Values.auth.existingSecret }}{{ .Values.auth.existingSecretKey }}{{ else }}api-keys{{ end }}
{{- end }}

{{- define "seed-sfu.redisSecretName" -}}
{{- .Values.redis.existingSecret | default (include "seed-sfu.fullname" .) }}
{{- end }}

{{- define "seed-sfu.redisSecretKey" -}}
{{- if .Values.redis.existingSecret }}{{ .Values.redis.existingSecretKey }}{{ else }}redis-url{{ end }}
{{- end }}

{{/* TURN is on when clients are given URLs (turn.urls); then the nodes and coturn share a secret. */}}
{{- define "seed-sfu.turnOwnSecret" -}}
{{- if and .Values.turn.urls (not .Values.turn.existingSecret) }}true{{ end }}
{{- end }}

{{- define "seed-sfu.turnSecretName" -}}
{{- .Values.turn.existingSecret | default (include "seed-sfu.fullname" .) }}
{{- end }}

{{- define "seed-sfu.turnSecretKey" -}}
{{- if .Values.turn.existingSecret }}{{ .Values.turn.existingSecretKey }}{{ else }}turn-secret{{ end }}
{{- end }}

{{/*
"true" when the release runs its own Redis: redis.bundled.enabled true, or auto (the default)
with neither redis.url nor redis.existingSecret. Contradictions fail in seed-sfu.validate.
*/}}
{{- define "seed-sfu.redisBundled" -}}
{{- $enabled := .Values.redis.bundled.enabled }}
{{- if kindIs "bool" $enabled }}
{{- if $enabled }}true{{ end }}
{{- else if not (or .Values.redis.url .Values.redis.existingSecret) }}true{{ end }}
{{- end }}

{{- define "seed-sfu.redisUrl" -}}
{{- if include "seed-sfu.redisBundled" . -}}
redis://{{ include "seed-sfu.fullname" . }}-redis:6379/0
{{- else -}}
{{ .Values.redis.url }}
{{- end }}
{{- end }}

{{/*
Rules that values.schema.json cannot express; configmap.yaml, rendered in every install,
includes this, so a bad combination fails `helm install`, `helm lint` and `helm template` with
a message.
*/}}
{{- define "seed-sfu.validate" -}}
{{- $redis := .Values.redis }}
{{- $bundled := toString $redis.bundled.enabled }}
{{- if and $redis.url $redis.existingSecret }}
{{- fail "seed-sfu: redis.url and redis.existingSecret both name a Redis: set only one of them" }}
{{- end }}
{{- if and (eq $bundled "true") (or $redis.url $redis.existingSecret) }}
{{- fail "seed-sfu: redis.bundled.enabled=true runs a Redis in the release, but redis.url or redis.existingSecret names another: to use yours, set redis.bundled.enabled=auto (or false); for the bundled trial Redis, unset redis.url and redis.existingSecret" }}
{{- end }}
{{- if and (eq $bundled "false") (not (or $redis.url $redis.existingSecret)) }}
{{- fail "seed-sfu: redis.bundled.enabled=false leaves the control API and the media nodes no Redis to share their state through: set redis.url or redis.existingSecret (production), or redis.bundled.enabled=auto for the bundled trial Redis" }}
{{- end }}
{{- if and .Values.auth.apiKeys .Values.auth.existingSecret }}
{{- fail "seed-sfu: set auth.apiKeys or auth.existingSecret, not both" }}
{{- end }}
{{- if and .Values.config.webhookKey .Values.auth.apiKeys }}
{{- $ids := list }}
{{- range .Values.auth.apiKeys }}{{ $ids = append $ids .id }}{{ end }}
{{- if not (has .Values.config.webhookKey $ids) }}
{{- fail (printf "seed-sfu: config.webhookKey %q is not one of the ids in auth.apiKeys" .Values.config.webhookKey) }}
{{- end }}
{{- end }}
{{- $media := .Values.media }}
{{- if and (eq (int $media.ice.udpPort) 0) (not $media.hostNetwork) }}
{{- fail "seed-sfu: media.ice.udpPort 0 (ephemeral UDP ports) needs media.hostNetwork=true: only the host network carries them; or set media.ice.udpPort (e.g. 7882) to publish one hostPort" }}
{{- end }}
{{- if and (ne (int $media.ice.udpPort) 0) (eq (int $media.ice.tcpPort) (int $media.port)) }}
{{- fail (printf "seed-sfu: media.ice.tcpPort %v is media.port, the signaling port (both TCP): give ICE-TCP a port of its own (e.g. 7882, the UDP port's number), or 0 for none" $media.ice.tcpPort) }}
{{- end }}
{{- if and (not $media.hostNetwork) (not $media.ice.announceHostIP) (not $media.ice.addresses) }}
{{- fail "seed-sfu: without media.hostNetwork, set media.ice.announceHostIP=true or media.ice.addresses: the pod's own address, announced otherwise, is not reachable from clients" }}
{{- end }}
{{- if and .Values.media.autoscaling.enabled (ne .Values.media.kind "Deployment") }}
{{- fail "seed-sfu: media.autoscaling needs media.kind=Deployment (a DaemonSet runs one pod on every selected node)" }}
{{- end }}
{{- $pdb := .Values.media.podDisruptionBudget }}
{{- if and $pdb.enabled (eq .Values.media.kind "DaemonSet") (or (kindIs "invalid" $pdb.minAvailable) (kindIs "string" $pdb.minAvailable)) }}
{{- fail "seed-sfu: with media.kind=DaemonSet the media PodDisruptionBudget needs an integer minAvailable (maxUnavailable and percentages need a controller with a scale subresource)" }}
{{- end }}
{{- $turn := .Values.turn }}
{{- if and $turn.secret $turn.existingSecret }}
{{- fail "seed-sfu: set turn.secret or turn.existingSecret, not both" }}
{{- end }}
{{- if and $turn.bundled.enabled (not $turn.urls) }}
{{- fail "seed-sfu: turn.bundled.enabled runs coturn, but clients only use it through turn.urls: list the URLs they reach it at, e.g. turn:turn.example.com:3478?transport=udp and turn:turn.example.com:3478?transport=tcp (the public names or addresses of the nodes coturn runs on)" }}
{{- end }}
{{- if and $turn.urls (not $turn.bundled.enabled) (not $turn.secret) (not $turn.existingSecret) }}
{{- fail "seed-sfu: turn.urls without turn.bundled.enabled names your own TURN server: set turn.secret (or turn.existingSecret) to its static-auth-secret, or turn.bundled.enabled=true to run coturn in the release with a generated one" }}
{{- end }}
{{- if $turn.bundled.enabled }}
{{- if gt (int $turn.bundled.minPort) (int $turn.bundled.maxPort) }}
{{- fail (printf "seed-sfu: turn.bundled.minPort %v is above turn.bundled.maxPort %v" $turn.bundled.minPort $turn.bundled.maxPort) }}
{{- end }}
{{- if and $turn.bundled.tls.secretName (eq (int $turn.bundled.tls.port) (int $turn.bundled.listeningPort)) }}
{{- fail "seed-sfu: turn.bundled.tls.port and turn.bundled.listeningPort must differ (TLS and plain TCP on one port)" }}
{{- end }}
{{- end }}
{{- if and .Values.networkPolicy.enabled (include "seed-sfu.redisBundled" .) $media.hostNetwork (not .Values.networkPolicy.nodeCIDRs) }}
{{- fail "seed-sfu: networkPolicy.enabled with the bundled Redis and media.hostNetwork=true needs networkPolicy.nodeCIDRs (the nodes' address ranges: media pods on the host network reach Redis from them); or use an external Redis (redis.url or redis.existingSecret), or media.hostNetwork=false" }}
{{- end }}
{{- end }}

{{/* Environment both processes get: shared settings (ConfigMap), API keys file, Redis URL. */}}
{{- define "seed-sfu.commonEnv" -}}
- name: SFU_API_KEYS_FILE
  value: /etc/seed-sfu/keys/api-keys
- name: SFU_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "seed-sfu.redisSecretName" . }}
      key: {{ include "seed-sfu.redisSecretKey" . }}
{{- end }}

{{- define "seed-sfu.keysVolume" -}}
- name: api-keys
  secret:
    secretName: {{ include "seed-sfu.apiKeysSecretName" . }}
    defaultMode: 0440
    items:
      - key: {{ include "seed-sfu.apiKeysSecretKey" . }}
        path: api-keys
{{- end }}

{{/* Pod annotations that roll the pods when the chart's ConfigMap or Secret changes. */}}
{{- define "seed-sfu.checksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- if include "seed-sfu.ownSecret" . }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
{{- end }}
