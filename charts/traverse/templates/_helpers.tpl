{{- define "traverse.fullname" -}}{{ .Release.Name }}-traverse{{- end -}}
{{- define "traverse.labels" -}}
app.kubernetes.io/name: traverse
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}
{{- define "traverse.secretName" -}}{{ default (printf "%s-secrets" (include "traverse.fullname" .)) .Values.secrets.existingSecret }}{{- end -}}
{{- define "traverse.commonEnv" -}}
- name: TRAVERSE_CONFIG
  value: /etc/traverse/traverse.yaml
- name: TRAVERSE_NODE__NAME
  valueFrom: { fieldRef: { fieldPath: metadata.name } }
- name: TRAVERSE_AUTH__FIXED_PASSWORD
  valueFrom: { secretKeyRef: { name: {{ include "traverse.secretName" . }}, key: fixed-password } }
- name: TRAVERSE_MEDIA_ENGINE__TOKEN
  valueFrom: { secretKeyRef: { name: {{ include "traverse.secretName" . }}, key: media-engine-token } }
{{- if .Values.redis.existingSecret }}
- name: TRAVERSE_REDIS__PASSWORD
  valueFrom: { secretKeyRef: { name: {{ .Values.redis.existingSecret }}, key: redis-password } }
{{- end }}
{{- end -}}
{{- define "traverse.probes" -}}
livenessProbe:
  httpGet: { path: /health/live, port: oam, scheme: HTTPS }
  periodSeconds: 10
readinessProbe:
  httpGet: { path: /health/ready, port: oam, scheme: HTTPS }
  periodSeconds: 5
{{- end -}}
