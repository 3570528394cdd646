{{/*
Names, labels and the few values that several templates share. Kept deliberately plain:
every template is readable without knowing Helm tricks.
*/}}

{{- define "zonegate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "zonegate.fullname" -}}
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

{{/* Labels on every object. */}}
{{- define "zonegate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "zonegate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: zonegate
{{- end -}}

{{/* Selector labels of one component; call with (dict "root" $ "component" "gateway"). */}}
{{- define "zonegate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "zonegate.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "zonegate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "zonegate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* image reference: repository:tag, or repository:tag@digest when a digest is set. */}}
{{- define "zonegate.imageRef" -}}
{{- if .digest -}}
{{- printf "%s:%s@%s" .repository .tag .digest -}}
{{- else -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}
{{- end -}}

{{/* http or https, for URLs and probes of the zonegate listeners. */}}
{{- define "zonegate.scheme" -}}
{{- if .Values.tls.enabled -}}HTTPS{{- else -}}HTTP{{- end -}}
{{- end -}}

{{- define "zonegate.controlURL" -}}
{{- printf "%s://%s-control.%s.svc:%d" (include "zonegate.scheme" . | lower) (include "zonegate.fullname" .) .Release.Namespace (int .Values.controlPlane.service.port) -}}
{{- end -}}

{{/*
The store URL (contract 2: store). It carries no password: libpq takes it from
PGPASSWORD, which the pods set from the password Secret.
*/}}
{{- define "zonegate.storeURL" -}}
{{- $pg := .Values.postgresql -}}
{{- $query := printf "sslmode=%s&application_name=zonegate" $pg.sslMode -}}
{{- if $pg.caSecret.name -}}
{{- $query = printf "%s&sslrootcert=/etc/zonegate/postgresql/%s" $query $pg.caSecret.key -}}
{{- end -}}
{{- printf "postgresql://%s@%s:%d/%s?%s" $pg.user $pg.host (int $pg.port) $pg.database $query -}}
{{- end -}}

{{/* Pod-level security context shared by the gateway and the control plane. */}}
{{- define "zonegate.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.runAsUser }}
runAsGroup: {{ .Values.runAsGroup }}
fsGroup: {{ .Values.runAsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level security context for every container but the monitor. */}}
{{- define "zonegate.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Environment and mounts that give a zonegate process its store credentials. */}}
{{- define "zonegate.storeEnv" -}}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.postgresql.passwordSecret.name }}
      key: {{ .Values.postgresql.passwordSecret.key }}
{{- end -}}

{{/* Volume mounts of the zonegate container (gateway and control plane). */}}
{{- define "zonegate.volumeMounts" -}}
- name: config
  mountPath: /etc/zonegate/config
  readOnly: true
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /var/lib/zonegate
{{- if .Values.tls.enabled }}
- name: tls
  mountPath: /etc/zonegate/tls
  readOnly: true
{{- end }}
{{- if include "zonegate.verifiesClientCerts" . }}
- name: client-ca
  mountPath: /etc/zonegate/ca
  readOnly: true
{{- end }}
{{- if .Values.postgresql.caSecret.name }}
- name: postgresql-ca
  mountPath: /etc/zonegate/postgresql
  readOnly: true
{{- end }}
{{- end -}}

{{/* Volumes behind zonegate.volumeMounts. */}}
{{- define "zonegate.volumes" -}}
- name: config
  configMap:
    name: {{ include "zonegate.fullname" . }}-config
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
- name: data
  emptyDir:
    sizeLimit: {{ .Values.dataVolumeSize }}
{{- if .Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ .Values.tls.secretName }}
    defaultMode: 0440
{{- end }}
{{- if include "zonegate.verifiesClientCerts" . }}
{{- $crl := .Values.tls.crl }}
# a pki/ CA directory without keys: the verifier reads root.crt, intermediate.crt and
# crl.pem from the folder of tls.client_ca (ca.pem)
- name: client-ca
  projected:
    defaultMode: 0444
    sources:
      - secret:
          name: {{ .Values.tls.clientCA.secretName }}
          items:
            - {key: root.crt, path: root.crt}
            - {key: intermediate.crt, path: intermediate.crt}
            - {key: ca.pem, path: ca.pem}
            {{- if not $crl.secretName }}
            - {key: crl.pem, path: crl.pem}
            {{- end }}
      {{- if $crl.secretName }}
      - secret:
          name: {{ $crl.secretName }}
          items:
            - {key: {{ $crl.key }}, path: crl.pem}
      {{- end }}
{{- end }}
{{- if .Values.postgresql.caSecret.name }}
- name: postgresql-ca
  secret:
    secretName: {{ .Values.postgresql.caSecret.name }}
    defaultMode: 0444
{{- end }}
{{- end -}}

{{/* Egress rule to the cluster DNS, shared by the NetworkPolicies. */}}
{{- define "zonegate.dnsEgress" -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ .Values.networkPolicy.dns.namespace }}
      podSelector:
        {{- toYaml .Values.networkPolicy.dns.podSelector | nindent 8 }}
  ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
{{- end -}}

{{/* Egress rule to PostgreSQL. */}}
{{- define "zonegate.postgresqlEgress" -}}
- ports:
    - {port: {{ .Values.postgresql.port }}, protocol: TCP}
  {{- with .Values.postgresql.networkPolicyTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/*
Zone names and prefixes must be unique: the gateway would refuse the config at start-up,
so refuse it at install time instead.
*/}}
{{- define "zonegate.checkZones" -}}
{{- $names := dict -}}
{{- $prefixes := dict -}}
{{- range .Values.zones -}}
{{- if hasKey $names .name -}}
{{- fail (printf "zones: two zones share the name %q" .name) -}}
{{- end -}}
{{- if hasKey $prefixes .prefix -}}
{{- fail (printf "zones: two zones share the prefix %q" .prefix) -}}
{{- end -}}
{{- $_ := set $names .name true -}}
{{- $_ := set $prefixes .prefix true -}}
{{- end -}}
{{- end -}}


{{/*
"true" when the listeners verify client certificates (mTLS or XFCC from a trusted proxy),
else empty. They then need the CA directory of tls.clientCA.
*/}}
{{/*
Where gateways fetch the CRL while running (config tls.crl_url): tls.crl.url, else the
control plane's public /crl.pem when it runs the CA; empty: the mounted file only.
*/}}
{{- define "zonegate.crlURL" -}}
{{- $crl := .Values.tls.crl -}}
{{- $cp := .Values.controlPlane -}}
{{- if $crl.url -}}
{{- $crl.url -}}
{{- else if and $crl.fetchFromControlPlane $cp.enabled $cp.ca.secretName -}}
{{- printf "%s/crl.pem" (include "zonegate.controlURL" .) -}}
{{- end -}}
{{- end -}}

{{- define "zonegate.verifiesClientCerts" -}}
{{- $tls := .Values.tls -}}
{{- if and $tls.enabled (or (ne $tls.clientCert "off") $tls.trustedXfccFrom) -}}true{{- end -}}
{{- end -}}

{{/* The SPIFFE ID of the monitor's client certificate (an ingester of the control plane). */}}
{{- define "zonegate.monitorSpiffeId" -}}
{{- .Values.monitor.alertsClient.spiffeId | default (printf "spiffe://%s/zone/platform/svc/monitor" .Values.trustDomain) -}}
{{- end -}}

{{/* control.ingesters as JSON: controlPlane.ingesters, and the monitor when it posts. */}}
{{- define "zonegate.ingesters" -}}
{{- $ids := .Values.controlPlane.ingesters -}}
{{- if and .Values.monitor.enabled .Values.monitor.alertsUrl -}}
{{- $ids = append $ids (include "zonegate.monitorSpiffeId" .) -}}
{{- end -}}
{{- uniq $ids | toJson -}}
{{- end -}}

{{/* "true" when the OPA sidecars poll the control plane for the bundle, else empty. */}}
{{- define "zonegate.controlServesBundle" -}}
{{- if and .Values.opa.enabled (not .Values.opa.bundle.url) -}}true{{- end -}}
{{- end -}}

{{/* The CA state volume is a PersistentVolumeClaim of the chart's or an existing one. */}}
{{- define "zonegate.caClaim" -}}
{{- .Values.controlPlane.ca.persistence.existingClaim | default (printf "%s-ca" (include "zonegate.fullname" .)) -}}
{{- end -}}

{{/*
Combinations that render valid objects but a deployment that cannot work: refused at
install time with the reason, rather than found later in a pod's log.
*/}}
{{- define "zonegate.checkWiring" -}}
{{- $cp := .Values.controlPlane -}}
{{- $signing := .Values.opa.bundle.signing -}}
{{- if include "zonegate.controlServesBundle" . -}}
{{- if not $cp.enabled -}}
{{- fail "opa.bundle.url is empty, so the OPA sidecars poll the control plane, but controlPlane.enabled is false: set opa.bundle.url or enable the control plane" -}}
{{- end -}}
{{- if not $cp.bundleSigning.secretName -}}
{{- fail "controlPlane.bundleSigning.secretName is empty: the control plane would publish an unsigned bundle, which the OPA sidecars refuse" -}}
{{- end -}}
{{- if not (has $signing.algorithm (list "ES256" "RS256")) -}}
{{- fail (printf "opa.bundle.signing.algorithm %s: the control plane signs with ES256 (EC P-256) or RS256 only" $signing.algorithm) -}}
{{- end -}}
{{- if $signing.scope -}}
{{- fail "opa.bundle.signing.scope is set, but the control plane signs without a scope: OPA would refuse its bundle" -}}
{{- end -}}
{{- end -}}
{{- if and (include "zonegate.verifiesClientCerts" .) (not .Values.tls.clientCA.secretName) -}}
{{- fail "tls.clientCA.secretName is empty, but the listeners verify client certificates (tls.clientCert, tls.trustedXfccFrom): name the Secret with the CA's public files" -}}
{{- end -}}
{{- if and .Values.monitor.enabled .Values.monitor.alertsUrl $cp.enabled (not (include "zonegate.verifiesClientCerts" .)) -}}
{{- fail "monitor.alertsUrl is set, but the control plane does not verify client certificates (tls.enabled false or tls.clientCert off), so it cannot admit the monitor" -}}
{{- end -}}
{{- if and $cp.autoQuarantine.enabled (eq (include "zonegate.ingesters" .) "[]") -}}
{{- fail "controlPlane.autoQuarantine needs an ingester: set monitor.alertsUrl (the monitor's certificate) or controlPlane.ingesters" -}}
{{- end -}}
{{- if and $cp.enabled $cp.ca.secretName (gt (int $cp.replicas) 1) (ne $cp.ca.persistence.accessMode "ReadWriteMany") -}}
{{- fail "controlPlane.ca: more than one control-plane replica needs the CA volume ReadWriteMany (controlPlane.ca.persistence.accessMode)" -}}
{{- end -}}
{{- end -}}
