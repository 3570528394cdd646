"""values.schema.json: the defaults and the examples pass, bad values are refused.

Helm validates the merged values (defaults with the user's files on top) against the
schema before it renders anything, so these tests validate merged values the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped,unused-ignore]
import pytest

from tests.helm._chart import default_values, example_files, load_yaml, merged, schema

PEM_CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
PEM_KEY = "-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n"
PEM_PUBLIC = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"


def _validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(schema(), format_checker=jsonschema.FormatChecker())


def _zone(**changes: Any) -> dict[str, Any]:
    zone: dict[str, Any] = {
        "name": "sandbox",
        "prefix": "/zones/sandbox/",
        "level": "L2",
        "upstream": {
            "url": "http://sandbox:8080",
            "podSelector": {"matchLabels": {"app": "sandbox"}},
            "ports": [{"port": 8080, "protocol": "TCP"}],
        },
    }
    upstream = changes.pop("upstream", {})
    zone.update(changes)
    zone["upstream"].update(upstream)
    return zone


def _paths(values: dict[str, Any]) -> list[str]:
    """JSON paths of every error, including those nested under anyOf/oneOf/allOf."""
    found = []
    stack = list(_validator().iter_errors(values))
    while stack:
        error = stack.pop()
        found.append(error.json_path)
        stack.extend(error.context or ())
    return found


def test_schema_is_valid_draft_07() -> None:
    jsonschema.Draft7Validator.check_schema(schema())
    assert schema()["$schema"] == "http://json-schema.org/draft-07/schema#"


def test_schema_is_strict_at_the_top() -> None:
    assert schema()["additionalProperties"] is False


def test_every_object_in_the_schema_is_closed() -> None:
    # every object either lists its keys (additionalProperties false) or is a typed map;
    # only Helm's `global` and Kubernetes' affinity (passed through verbatim) stay open
    open_on_purpose = {"global", "affinity"}
    stack: list[tuple[str, Any]] = [("", schema())]
    open_objects = []
    while stack:
        where, node = stack.pop()
        if isinstance(node, dict):
            name = where.rsplit("/", 1)[-1]
            closed = node.get("additionalProperties") is False or (
                "properties" not in node and isinstance(node.get("additionalProperties"), dict)
            )
            if node.get("type") == "object" and not closed and name not in open_on_purpose:
                open_objects.append(where)
            stack.extend((f"{where}/{key}", value) for key, value in node.items())
        elif isinstance(node, list):
            stack.extend((f"{where}/{i}", value) for i, value in enumerate(node))
    assert open_objects == []


def test_default_values_validate() -> None:
    assert _paths(default_values()) == []


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_example_values_validate(path: Path) -> None:
    assert _paths(merged(load_yaml(path))) == []


GOOD = [
    ("image-digest", {"image": {"digest": "sha256:" + "a" * 64}}),
    ("pdb-percentage", {"gateway": {"podDisruptionBudget": {"minAvailable": "50%"}}}),
    ("zone-in-release-namespace", {"zones": [_zone()]}),
    ("no-zones", {"zones": []}),
    ("zone-match-expressions", {"zones": [_zone(upstream={"podSelector": {
        "matchExpressions": [{"key": "app", "operator": "In", "values": ["a"]}]}})]}),
    ("tls-created-by-chart", {"tls": {"create": True, "certificate": PEM_CERT,
                                      "privateKey": PEM_KEY, "caCertificate": PEM_CERT}}),
    ("bundle-key-created-by-chart", {"opa": {"bundle": {"signing": {
        "create": True, "publicKey": PEM_PUBLIC}}}}),
    ("password-created-by-chart", {"postgresql": {"passwordSecret": {
        "create": True, "password": "s3cret"}}}),
    ("oidc-issuer", {"identity": {"oidc": [{"issuer": "https://idp.city.example",
                                            "audience": "zonegate"}]}}),
    ("xfcc-ipv6", {"tls": {"trustedXfccFrom": ["fd00::/64", "10.0.0.1"]}}),
    ("cpu-as-number", {"gateway": {"resources": {"requests": {"cpu": 0.5, "memory": "1Gi"},
                                                 "limits": {"cpu": 2, "memory": "2Gi"}}}}),
    ("monitor-non-root", {"monitor": {"runAsNonRoot": True}}),
    ("segments", {"segments": {"gov-net": ["10.10.0.0/16", "fd00:10::/64"],
                               "hospital-net": ["10.20.0.1/32"]}}),
    ("zone-sources", {"zones": [_zone(sources=["gov-net", "*"])]}),
    ("zone-without-sources", {"zones": [_zone()]}),
    ("gateway-keeps-client-address", {"gateway": {"service": {
        "type": "LoadBalancer", "externalTrafficPolicy": "Local"}}}),
    ("monitor-posts-alerts", {"monitor": {"alertsUrl": "https://control:8444/api/alerts",
                                          "alertsClient": {"spiffeId":
                                              "spiffe://city.example/zone/edge/svc/mon"}}}),
    ("ingesters-and-auto-quarantine", {"controlPlane": {
        "ingesters": ["spiffe://city.example/zone/edge/svc/egress"],
        "autoQuarantine": {"enabled": True, "rules": ["port_scan_horizontal"],
                           "minSeverity": 90, "durationSeconds": 600,
                           "exemptDevices": ["nvr-1"],
                           "exemptNetworks": ["10.50.0.0/24", "10.50.1.1"]}}}),
    ("monitor-spares-routers", {"monitor": {"gatewayIps": ["10.40.0.1", "fd00::1"],
                                            "trustedDevices": ["02:00:5E:00:00:01"]}}),
    ("control-plane-ca", {"controlPlane": {"ca": {
        "secretName": "zonegate-ca", "passphraseSecret": {"name": "ca-pass", "key": "p"},
        "persistence": {"accessMode": "ReadWriteMany", "storageClassName": "cephfs"}}}}),
    ("keys-created-by-chart", {"gateway": {"assertionKey": {"create": True,
                                                            "privateKey": PEM_KEY}},
                               "controlPlane": {"bundleSigning": {"create": True,
                                                                  "privateKey": PEM_KEY}}}),
    ("bundle-server-without-control-signing", {
        "opa": {"bundle": {"url": "https://bundles.city.example"}},
        "controlPlane": {"bundleSigning": {"secretName": ""}}}),
    ("no-client-ca", {"tls": {"clientCert": "off", "clientCA": {"secretName": ""}}}),
]


@pytest.mark.parametrize(("case", "overrides"), GOOD, ids=[c for c, _ in GOOD])
def test_schema_accepts(case: str, overrides: dict[str, Any]) -> None:
    assert _paths(merged(overrides)) == [], case


BAD = [
    # (case, overrides, JSON path of the error); a deleted required key is reported at
    # the object that needs it
    ("unknown-top-level-key", {"replicas": 3}, "$"),
    ("misspelt-nested-key", {"gateway": {"replica": 3}}, "$.gateway"),
    ("image-tag-latest", {"image": {"tag": "latest"}}, "$.image.tag"),
    ("image-tag-empty", {"image": {"tag": ""}}, "$.image.tag"),
    ("opa-image-latest", {"opa": {"image": {"tag": "latest"}}}, "$.opa.image.tag"),
    ("image-digest-not-sha256", {"image": {"digest": "md5:abc"}}, "$.image.digest"),
    ("run-as-root", {"runAsUser": 0}, "$.runAsUser"),
    ("trust-domain-upper-case", {"trustDomain": "City.Example"}, "$.trustDomain"),
    ("privileged-listen-port", {"gateway": {"port": 443}}, "$.gateway.port"),
    ("client-cert-mode", {"tls": {"clientCert": "sometimes"}}, "$.tls.clientCert"),
    ("tls-create-without-pem", {"tls": {"create": True}}, "$.tls.certificate"),
    ("tls-create-not-pem", {"tls": {"create": True, "certificate": "hello",
                                    "privateKey": PEM_KEY, "caCertificate": PEM_CERT}},
     "$.tls.certificate"),
    ("xfcc-not-an-address", {"tls": {"trustedXfccFrom": ["proxy.local"]}},
     "$.tls.trustedXfccFrom[0]"),
    ("oidc-plain-http-issuer", {"identity": {"oidc": [{"issuer": "http://idp",
                                                        "audience": "zonegate"}]}},
     "$.identity.oidc[0].issuer"),
    ("oidc-alg-none", {"identity": {"oidc": [{"issuer": "https://idp", "audience": "z",
                                              "algorithms": ["none"]}]}},
     "$.identity.oidc[0].algorithms[0]"),
    ("oidc-alg-hmac", {"identity": {"oidc": [{"issuer": "https://idp", "audience": "z",
                                              "algorithms": ["HS256"]}]}},
     "$.identity.oidc[0].algorithms[0]"),
    ("oidc-no-audience", {"identity": {"oidc": [{"issuer": "https://idp"}]}},
     "$.identity.oidc[0]"),
    ("decision-path-injection", {"policy": {"decision": "zonegate/authz/../x"}},
     "$.policy.decision"),
    ("bundle-alg-hmac", {"opa": {"bundle": {"signing": {"algorithm": "HS256"}}}},
     "$.opa.bundle.signing.algorithm"),
    ("bundle-key-create-without-pem", {"opa": {"bundle": {"signing": {"create": True}}}},
     "$.opa.bundle.signing.publicKey"),
    ("bundle-key-id-with-dot", {"opa": {"bundle": {"signing": {"keyId": "a.b"}}}},
     "$.opa.bundle.signing.keyId"),
    ("bundle-url-scheme", {"opa": {"bundle": {"url": "ftp://bundles"}}}, "$.opa.bundle.url"),
    ("bundle-poll-zero", {"opa": {"bundle": {"minDelaySeconds": 0}}},
     "$.opa.bundle.minDelaySeconds"),
    ("postgres-without-tls", {"postgresql": {"sslMode": "disable"}}, "$.postgresql.sslMode"),
    ("postgres-user-injection", {"postgresql": {"user": "zonegate:pw@evil"}},
     "$.postgresql.user"),
    ("postgres-host-with-path", {"postgresql": {"host": "db/other"}}, "$.postgresql.host"),
    ("postgres-password-create-empty", {"postgresql": {"passwordSecret": {"create": True}}},
     "$.postgresql.passwordSecret.password"),
    ("postgres-password-create-missing", {"postgresql": {"passwordSecret": {
        "create": True, "password": None}}}, "$.postgresql.passwordSecret"),
    ("resources-without-limits", {"gateway": {"resources": {"limits": None}}},
     "$.gateway.resources"),
    ("resources-bad-quantity", {"opa": {"resources": {"limits": {"memory": "lots"}}}},
     "$.opa.resources.limits.memory"),
    ("hpa-target-zero", {"gateway": {"autoscaling": {"targetCPUUtilizationPercentage": 0}}},
     "$.gateway.autoscaling.targetCPUUtilizationPercentage"),
    ("hpa-no-replicas", {"gateway": {"autoscaling": {"minReplicas": 0}}},
     "$.gateway.autoscaling.minReplicas"),
    ("gateway-peer-empty", {"gateway": {"networkPolicyFrom": [{}]}},
     "$.gateway.networkPolicyFrom[0]"),
    ("monitor-on-every-node", {"monitor": {"nodeSelector": None}}, "$.monitor"),
    ("monitor-interface-injection", {"monitor": {"interface": "eth0; reboot"}},
     "$.monitor.interface"),
    ("monitor-alerts-relative", {"monitor": {"alertsOut": "alerts.ndjson"}},
     "$.monitor.alertsOut"),
    ("service-monitor-interval", {"serviceMonitor": {"interval": "soon"}},
     "$.serviceMonitor.interval"),
    ("zone-level", {"zones": [_zone(level="L9")]}, "$.zones[0].level"),
    ("zone-name-upper-case", {"zones": [_zone(name="Health")]}, "$.zones[0].name"),
    ("zone-prefix-no-trailing-slash", {"zones": [_zone(prefix="/zones/x")]},
     "$.zones[0].prefix"),
    ("zone-prefix-root", {"zones": [_zone(prefix="/")]}, "$.zones[0].prefix"),
    ("zone-prefix-dot-segment", {"zones": [_zone(prefix="/zones/../admin/")]},
     "$.zones[0].prefix"),
    ("zone-upstream-scheme", {"zones": [_zone(upstream={"url": "ftp://sandbox"})]},
     "$.zones[0].upstream.url"),
    ("zone-selector-empty", {"zones": [_zone(upstream={"podSelector": {}})]},
     "$.zones[0].upstream.podSelector"),
    ("zone-selector-no-labels", {"zones": [_zone(upstream={"podSelector": {
        "matchLabels": {}}})]}, "$.zones[0].upstream.podSelector"),
    ("zone-no-ports", {"zones": [_zone(upstream={"ports": []})]},
     "$.zones[0].upstream.ports"),
    ("zone-port-range", {"zones": [_zone(upstream={"ports": [{"port": 70000}]})]},
     "$.zones[0].upstream.ports[0].port"),
    ("zone-port-protocol", {"zones": [_zone(upstream={"ports": [{"port": 80,
                                                                 "protocol": "ICMP"}]})]},
     "$.zones[0].upstream.ports[0].protocol"),
    ("zone-namespace", {"zones": [_zone(upstream={"namespace": "Zone_Health"})]},
     "$.zones[0].upstream.namespace"),
    ("zone-without-upstream", {"zones": [{"name": "x", "prefix": "/x/", "level": "L1"}]},
     "$.zones[0]"),
    ("zones-not-a-list", {"zones": {"health": {}}}, "$.zones"),
    ("zone-source-not-a-segment", {"zones": [_zone(sources=["Gov Net"])]},
     "$.zones[0].sources[0]"),
    ("zone-sources-empty", {"zones": [_zone(sources=[])]}, "$.zones[0].sources"),
    ("segment-bare-address", {"segments": {"gov-net": ["10.0.0.1"]}},
     "$.segments['gov-net'][0]"),
    ("segment-not-a-network", {"segments": {"gov-net": ["gov.example/24"]}},
     "$.segments['gov-net'][0]"),
    ("segment-name-upper-case", {"segments": {"GovNet": ["10.0.0.0/8"]}}, "$.segments"),
    ("segment-without-networks", {"segments": {"gov-net": []}}, "$.segments['gov-net']"),
    ("trust-refresh-zero", {"gateway": {"trustRefreshSeconds": 0}},
     "$.gateway.trustRefreshSeconds"),
    ("trust-refresh-too-slow", {"gateway": {"trustRefreshSeconds": 600}},
     "$.gateway.trustRefreshSeconds"),
    ("assertion-key-unnamed", {"gateway": {"assertionKey": {"secretName": ""}}},
     "$.gateway.assertionKey.secretName"),
    ("assertion-key-create-without-pem", {"gateway": {"assertionKey": {"create": True}}},
     "$.gateway.assertionKey.privateKey"),
    ("assertion-key-create-public-key", {"gateway": {"assertionKey": {
        "create": True, "privateKey": PEM_PUBLIC}}}, "$.gateway.assertionKey.privateKey"),
    ("bundle-signing-create-without-pem", {"controlPlane": {"bundleSigning": {
        "create": True}}}, "$.controlPlane.bundleSigning.privateKey"),
    ("bundle-signing-create-unnamed", {"controlPlane": {"bundleSigning": {
        "create": True, "secretName": "", "privateKey": PEM_KEY}}},
     "$.controlPlane.bundleSigning.secretName"),
    ("external-traffic-policy", {"gateway": {"service": {"externalTrafficPolicy": "local"}}},
     "$.gateway.service.externalTrafficPolicy"),
    ("ca-access-mode", {"controlPlane": {"ca": {"persistence": {
        "accessMode": "ReadOnlyMany"}}}}, "$.controlPlane.ca.persistence.accessMode"),
    ("ca-volume-size", {"controlPlane": {"ca": {"persistence": {"size": "big"}}}},
     "$.controlPlane.ca.persistence.size"),
    ("ingester-not-spiffe", {"controlPlane": {"ingesters": ["monitor"]}},
     "$.controlPlane.ingesters[0]"),
    ("auto-quarantine-too-short", {"controlPlane": {"autoQuarantine": {
        "durationSeconds": 10}}}, "$.controlPlane.autoQuarantine.durationSeconds"),
    ("auto-quarantine-rule-id", {"controlPlane": {"autoQuarantine": {
        "rules": ["Port-Scan"]}}}, "$.controlPlane.autoQuarantine.rules[0]"),
    ("alerts-over-http", {"monitor": {"alertsUrl": "http://control:8444/api/alerts"}},
     "$.monitor.alertsUrl"),
    ("alerts-without-client-certificate", {"monitor": {
        "alertsUrl": "https://control:8444/api/alerts", "alertsClient": {"secretName": ""}}},
     "$.monitor.alertsClient.secretName"),
    ("monitor-spiffe-id-shape", {"monitor": {"alertsClient": {
        "spiffeId": "spiffe://city.example/monitor"}}}, "$.monitor.alertsClient.spiffeId"),
    ("gateway-ip-not-an-address", {"monitor": {"gatewayIps": ["router.local"]}},
     "$.monitor.gatewayIps[0]"),
    ("gateway-ip-a-network", {"monitor": {"gatewayIps": ["10.0.0.0/24"]}},
     "$.monitor.gatewayIps[0]"),
    ("trusted-device-not-a-mac", {"monitor": {"trustedDevices": ["cam-1"]}},
     "$.monitor.trustedDevices[0]"),
    ("exempt-network-not-a-network", {"controlPlane": {"autoQuarantine": {
        "exemptNetworks": ["everything"]}}}, "$.controlPlane.autoQuarantine.exemptNetworks[0]"),
    ("exempt-device-blank", {"controlPlane": {"autoQuarantine": {
        "exemptDevices": ["cam 1"]}}}, "$.controlPlane.autoQuarantine.exemptDevices[0]"),
]


def _apply(overrides: dict[str, Any]) -> dict[str, Any]:
    """Merge like Helm; a None deletes the key, as `key: null` in a values file does."""
    values = merged(overrides)

    def prune(node: dict[str, Any]) -> None:
        for key in [k for k, v in node.items() if v is None]:
            del node[key]
        for value in node.values():
            if isinstance(value, dict):
                prune(value)

    prune(values)
    return values


@pytest.mark.parametrize(("case", "overrides", "where"), BAD, ids=[c for c, _, _ in BAD])
def test_schema_refuses(case: str, overrides: dict[str, Any], where: str) -> None:
    paths = _paths(_apply(overrides))
    assert where in paths, f"{case}: errors at {paths}"


def test_bad_cases_are_distinct_from_the_defaults() -> None:
    for case, overrides, _ in BAD:
        assert isinstance(overrides, dict)
        assert _apply(overrides) != default_values(), case
