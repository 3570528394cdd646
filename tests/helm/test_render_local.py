"""The chart rendered without Helm (tests/helm/_gotemplate.py), and with Helm when present.

Every config file the chart renders must be accepted by zonegate's own loader, and the
pieces that must agree across objects (the bundle key id, the mounted key files, the
monitor's identity and the control plane's ingesters, the segments and the gateway's
NetworkPolicy) are checked on the rendered objects. The `engine` fixture runs each test
with the local interpreter always and with a real Helm engine when one is installed; one
test requires the two to render identical objects for every scenario.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config import GatewayConfig
from monitor.config import load_monitor_config
from tests.helm._chart import Manifest, RenderError, by_kind, one
from tests.helm._local import render_local, render_notes
from tests.helm._render import (
    FULL,
    SCENARIO_IDS,
    SCENARIOS,
    config_of,
    container_named,
    need_helm,
    network_policies,
    pod_specs,
)

Render = Callable[[dict[str, Any]], list[Manifest]]
MONITOR_ID = "spiffe://city.example/zone/platform/svc/monitor"
ALERTS = "https://zg-zonegate-control.zonegate.svc:8444/api/alerts"
PEM_EC_KEY = "-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n"
CLOSED_ZONES = [  # no zone open to "*"
    {"name": "health", "prefix": "/zones/health/", "level": "L4",
     "sources": ["hospital-net", "gov-net"],
     "upstream": {"url": "http://health:8080", "namespace": "zone-health",
                  "podSelector": {"matchLabels": {"app": "health"}},
                  "ports": [{"port": 8080, "protocol": "TCP"}]}},
    {"name": "citizen", "prefix": "/zones/citizen/", "level": "L5", "sources": ["gov-net"],
     "upstream": {"url": "http://citizen:8080", "namespace": "zone-citizen",
                  "podSelector": {"matchLabels": {"app": "citizen"}},
                  "ports": [{"port": 8080, "protocol": "TCP"}]}},
]
SEGMENTS = {"gov-net": ["10.10.0.0/16"], "hospital-net": ["10.20.0.0/16", "fd00:20::/64"],
            "city-net": ["10.30.0.0/16"]}

WIRING: list[tuple[str, dict[str, Any]]] = [
    ("monitor-posts-alerts", {"monitor": {"alertsUrl": ALERTS}, "controlPlane": {
        "autoQuarantine": {"enabled": True, "rules": ["port_scan_horizontal"]},
        "ingesters": ["spiffe://city.example/zone/edge/svc/egress"]}}),
    ("control-plane-ca", {"controlPlane": {"ca": {
        "secretName": "zonegate-ca", "passphraseSecret": {"name": "zonegate-ca-pass"}}}}),
    ("segments-closed-zones", {"segments": SEGMENTS, "zones": CLOSED_ZONES}),
    ("client-cert-off", {"tls": {"clientCert": "off"}}),
    ("plain-http", {"tls": {"enabled": False}}),
    ("chart-made-keys", {"gateway": {"assertionKey": {"create": True,
                                                      "privateKey": PEM_EC_KEY}},
                         "controlPlane": {"bundleSigning": {"create": True,
                                                            "privateKey": PEM_EC_KEY}}}),
]
ALL = SCENARIOS + WIRING
ALL_IDS = SCENARIO_IDS + [name for name, _ in WIRING]


@pytest.fixture(params=["local", "helm"])
def engine(request: pytest.FixtureRequest) -> Render:
    if request.param == "helm":
        return need_helm().render
    return render_local


def _gateway(manifests: list[Manifest]) -> dict[str, Any]:
    return container_named(pod_specs(manifests)[f"{FULL}-gateway"], "gateway")


def _control(manifests: list[Manifest]) -> dict[str, Any]:
    return container_named(pod_specs(manifests)[f"{FULL}-control"], "control-plane")


def _mounted(container: dict[str, Any], path: str) -> bool:
    return any(path.startswith(m["mountPath"].rstrip("/") + "/")
               for m in container.get("volumeMounts", []))


def _opa_config(manifests: list[Manifest]) -> dict[str, Any]:
    data = yaml.safe_load(one(manifests, "ConfigMap", f"{FULL}-opa")["data"]["opa.yaml"])
    assert isinstance(data, dict)
    return data


# --- the interpreter against Helm ------------------------------------------------------


@pytest.mark.parametrize(("name", "overrides"), ALL, ids=ALL_IDS)
def test_local_render_matches_helm(name: str, overrides: dict[str, Any]) -> None:
    helm = need_helm()

    def objects(manifests: list[Manifest]) -> list[tuple[str, str]]:
        return sorted((m.source, json.dumps(m.body, sort_keys=True)) for m in manifests)

    assert objects(render_local(overrides)) == objects(helm.render(overrides)), name


@pytest.mark.parametrize(("name", "overrides"), WIRING, ids=[n for n, _ in WIRING])
def test_wiring_objects_fit_the_kubernetes_schema(name: str, overrides: dict[str, Any]) -> None:
    # the defaults and the examples are checked in test_render_objects.py (with Helm)
    kubernetes_validate = pytest.importorskip("kubernetes_validate",
                                              reason="kubernetes-validate is not installed")
    for manifest in render_local(overrides):
        if manifest.body["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD
        try:
            kubernetes_validate.validate(manifest.body, "1.33.0", strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {manifest.kind} {manifest.name}: {exc.message}")


# --- every config validates ------------------------------------------------------------


@pytest.mark.parametrize(("name", "overrides"), ALL, ids=ALL_IDS)
def test_every_rendered_config_is_accepted_by_zonegate(engine: Render, name: str,
                                                       overrides: dict[str, Any]) -> None:
    config = config_of(engine(overrides))  # parse_config: unknown keys are errors
    assert isinstance(config, GatewayConfig), name
    assert config.ingress.device_trust == "store"
    assert config.ingress.quarantine_file is None


def test_defaults_wire_quarantines_keys_and_signing(engine: Render) -> None:
    manifests = engine({})
    config = config_of(manifests)
    gateway, control = _gateway(manifests), _control(manifests)
    # quarantines: from the store, which the control plane writes; no quarantine file
    assert (config.ingress.device_trust, config.ingress.trust_refresh_seconds) == ("store", 2)
    assert config.store.startswith("postgresql://")
    assert "--quarantine" not in gateway["args"]
    # one assertion key for every replica, mounted in the gateway only
    assert str(config.ingress.signing_key) == "/etc/zonegate/assertion/assertion.pem"
    assert _mounted(gateway, str(config.ingress.signing_key))
    assert not _mounted(control, str(config.ingress.signing_key))
    # the audit log is on the writable data volume, not beside the read-only config
    assert str(config.ingress.audit_log).startswith("/var/lib/zonegate/")
    # the control plane signs what the sidecars verify: same kid, an algorithm it can sign
    opa = _opa_config(manifests)
    kid = opa["bundles"]["zonegate"]["signing"]["keyid"]
    assert config.control.bundle_key_id == kid
    assert opa["keys"][kid]["algorithm"] in ("ES256", "RS256")
    assert _mounted(control, str(config.control.bundle_signing_key))
    assert not _mounted(gateway, str(config.control.bundle_signing_key))
    sidecar = container_named(pod_specs(manifests)[f"{FULL}-gateway"], "opa")
    assert f"--set-file=keys.{kid}.key=/etc/opa/keys/public.pem" in sidecar["args"]


def test_client_certificates_are_verified_against_a_ca_directory(engine: Render) -> None:
    manifests = engine({})
    config = config_of(manifests)
    assert config.tls is not None and config.tls.client_ca is not None
    # the gateway and the control plane load root.crt, intermediate.crt and crl.pem from
    # the folder of tls.client_ca
    assert str(config.tls.client_ca) == "/etc/zonegate/ca/ca.pem"
    assert str(config.tls.crl) == "/etc/zonegate/ca/crl.pem"
    volumes = {v["name"]: v for v in pod_specs(manifests)[f"{FULL}-gateway"]["volumes"]}
    [source] = volumes["client-ca"]["projected"]["sources"]
    assert source["secret"]["name"] == "zonegate-ca-public"
    assert [i["path"] for i in source["secret"]["items"]] == [
        "root.crt", "intermediate.crt", "ca.pem", "crl.pem"]
    for container in (_gateway(manifests), _control(manifests)):
        assert _mounted(container, "/etc/zonegate/ca/ca.pem")


def test_no_client_ca_without_client_certificates(engine: Render) -> None:
    manifests = engine({"tls": {"clientCert": "off", "clientCA": {"secretName": ""}}})
    config = config_of(manifests)
    assert config.tls is not None and config.tls.client_ca is None
    assert not _mounted(_gateway(manifests), "/etc/zonegate/ca/ca.pem")


CONTROL_CA = {"controlPlane": {"ca": {"secretName": "zonegate-ca"}}}
CONTROL_CRL = f"https://{FULL}-control.zonegate.svc:8444/crl.pem"


@pytest.mark.parametrize(("overrides", "url"), [
    (CONTROL_CA, CONTROL_CRL),
    ({}, None),  # no CA in the cluster: nothing to fetch from
    ({**CONTROL_CA, "tls": {"crl": {"fetchFromControlPlane": False}}}, None),
    ({"tls": {"crl": {"url": "https://pki.city.example/crl.pem", "fetchSeconds": 300}}},
     "https://pki.city.example/crl.pem"),
    ({**CONTROL_CA, "tls": {"clientCert": "off", "clientCA": {"secretName": ""}}}, None),
], ids=["control-plane-ca", "no-ca", "fetch-off", "explicit-url", "no-client-certs"])
def test_gateways_fetch_the_crl_from_the_ca(engine: Render, overrides: dict[str, Any],
                                            url: str | None) -> None:
    manifests = engine(overrides)
    config = config_of(manifests)
    assert config.tls is not None
    assert config.tls.crl_url == url
    if url is None:
        return
    assert config.tls.crl_fetch_seconds == (300 if "pki.city" in url else 30)
    # the control plane's certificate is verified as the OPA sidecar verifies it
    assert str(config.tls.crl_url_ca) == "/etc/zonegate/tls/ca.crt"
    assert _mounted(_gateway(manifests), str(config.tls.crl_url_ca))


def test_monitor_posts_alerts_with_a_listed_certificate(engine: Render) -> None:
    manifests = engine(dict(WIRING)["monitor-posts-alerts"])
    config = config_of(manifests)
    assert config.control.ingesters == ("spiffe://city.example/zone/edge/svc/egress",
                                        MONITOR_ID)
    rule = config.control.auto_quarantine
    assert rule is not None and rule.ingesters_only and rule.rules == ("port_scan_horizontal",)
    spec = one(manifests, "DaemonSet", f"{FULL}-monitor")["spec"]["template"]["spec"]
    monitor = container_named(spec, "monitor")
    args = monitor["args"]
    flags = {flag: args[args.index(flag) + 1] for flag in
             ("--alerts-url", "--alerts-cert", "--alerts-key", "--alerts-ca")}
    assert flags["--alerts-url"] == ALERTS
    for flag in ("--alerts-cert", "--alerts-key", "--alerts-ca"):
        assert _mounted(monitor, flags[flag]), flag
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["alerts-client"]["secret"]["secretName"] == "zonegate-monitor-tls"


def test_monitor_and_auto_quarantine_spare_the_same_hosts(engine: Render,
                                                          tmp_path: Path) -> None:
    manifests = engine({
        "monitor": {"alertsUrl": ALERTS, "gatewayIps": ["10.40.0.1", "fd00:40::1"],
                    "trustedDevices": ["02:00:5e:00:00:01", "02-00-5E-00-00-02"]},
        "controlPlane": {"autoQuarantine": {
            "enabled": True, "exemptDevices": ["nvr-1", "02:00:5e:00:00:01"],
            "exemptNetworks": ["10.50.0.0/24"]}}})
    # the monitor reads its own file with its own loader
    text = one(manifests, "ConfigMap", f"{FULL}-monitor")["data"]["monitor.yaml"]
    (tmp_path / "monitor.yaml").write_text(text)
    monitor_config = load_monitor_config(tmp_path / "monitor.yaml")
    assert monitor_config.gateway_ips == ("10.40.0.1", "fd00:40::1")
    assert monitor_config.trusted_devices == ("02:00:5e:00:00:01", "02:00:5e:00:00:02")
    spec = one(manifests, "DaemonSet", f"{FULL}-monitor")["spec"]["template"]
    monitor = container_named(spec["spec"], "monitor")
    config_file = monitor["args"][monitor["args"].index("--config") + 1]
    assert _mounted(monitor, config_file) and config_file.endswith("/monitor.yaml")
    volumes = {v["name"]: v for v in spec["spec"]["volumes"]}
    assert volumes["config"]["configMap"]["name"] == f"{FULL}-monitor"
    assert len(spec["metadata"]["annotations"]["checksum/config"]) == 64
    # and the control plane spares what the monitor spares, plus its own list
    rule = config_of(manifests).control.auto_quarantine
    assert rule is not None
    assert rule.exempt_devices == ("02:00:5e:00:00:01", "02-00-5E-00-00-02", "nvr-1")
    assert rule.exempt_networks == ("10.40.0.1", "fd00:40::1", "10.50.0.0/24")


def test_monitor_config_changes_restart_only_the_monitor(engine: Render) -> None:
    before, after = engine({}), engine({"monitor": {"gatewayIps": ["10.40.0.1"]}})

    def annotations(manifests: list[Manifest]) -> dict[str, str]:
        return {name: spec_of["metadata"].get("annotations", {}).get("checksum/config", "")
                for name, spec_of in ((m.name, m.body["spec"]["template"]) for m in manifests
                                      if m.kind in ("Deployment", "DaemonSet"))}

    changed = {name for name, value in annotations(before).items()
               if annotations(after)[name] != value}
    assert changed == {f"{FULL}-monitor"}


def test_monitor_is_no_ingester_unless_it_posts(engine: Render) -> None:
    assert config_of(engine({})).control.ingesters == ()


def test_control_plane_ca_on_a_kept_volume(engine: Render) -> None:
    manifests = engine(dict(WIRING)["control-plane-ca"])
    config = config_of(manifests)
    assert str(config.control.ca_dir) == "/var/lib/zonegate-ca"
    assert config.control.ca_passphrase_env == "ZONEGATE_CA_PASSPHRASE"
    control = _control(manifests)
    assert _mounted(control, "/var/lib/zonegate-ca/ca.json")
    env = {e["name"]: e for e in control["env"]}
    assert env["ZONEGATE_CA_PASSPHRASE"]["valueFrom"]["secretKeyRef"] == {
        "name": "zonegate-ca-pass", "key": "passphrase"}
    deployment = one(manifests, "Deployment", f"{FULL}-control")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    spec = deployment["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["initContainers"]] == ["store-migrate", "ca-state"]
    claim = one(manifests, "PersistentVolumeClaim", f"{FULL}-ca")
    assert claim["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    # the gateway never sees the CA
    assert "ca-state" not in {v["name"] for v in pod_specs(manifests)[f"{FULL}-gateway"][
        "volumes"]}


def test_no_ca_by_default(engine: Render) -> None:
    manifests = engine({})
    assert config_of(manifests).control.ca_dir is None
    assert by_kind(manifests, "PersistentVolumeClaim") == []
    spec = pod_specs(manifests)[f"{FULL}-control"]
    assert [c["name"] for c in spec["initContainers"]] == ["store-migrate"]
    assert spec["initContainers"][0]["args"] == [
        "store", "migrate", "--config", "/etc/zonegate/config/zonegate.yaml"]


def test_chart_made_key_secrets(engine: Render) -> None:
    manifests = engine(dict(WIRING)["chart-made-keys"])
    secrets = {m.name: m.body["data"] for m in by_kind(manifests, "Secret")}
    assert set(secrets) == {"zonegate-assertion-key", "zonegate-bundle-signing"}
    assert set(secrets["zonegate-assertion-key"]) == {"assertion.pem"}
    assert set(secrets["zonegate-bundle-signing"]) == {"private.pem"}


# --- segments and the gateway's NetworkPolicy -------------------------------------------


def _gateway_sources(manifests: list[Manifest]) -> list[dict[str, Any]] | None:
    [rule, *_] = network_policies(manifests)[f"{FULL}-gateway"]["spec"]["ingress"]
    found = rule.get("from")
    assert found is None or isinstance(found, list)
    return found


def test_segments_reach_the_config(engine: Render) -> None:
    config = config_of(engine({"segments": SEGMENTS}))
    assert config.segments == {k: tuple(v) for k, v in SEGMENTS.items()}


@pytest.mark.parametrize(("overrides", "expected"), [
    ({}, None),  # the open zone admits "*"
    ({"segments": SEGMENTS}, None),
    ({"segments": SEGMENTS, "zones": CLOSED_ZONES},
     ["10.20.0.0/16", "fd00:20::/64", "10.10.0.0/16"]),  # city-net: no zone admits it
    ({"zones": CLOSED_ZONES}, None),  # no CIDRs to admit: left to the policy
    ({"segments": SEGMENTS, "zones": [{k: v for k, v in CLOSED_ZONES[0].items()
                                       if k != "sources"}]}, None),  # sources unknown
], ids=["defaults", "open-zone", "closed-zones", "no-segments", "zone-without-sources"])
def test_gateway_ingress_follows_the_zones_sources(engine: Render, overrides: dict[str, Any],
                                                   expected: list[str] | None) -> None:
    found = _gateway_sources(engine(overrides))
    if expected is None:
        assert found is None
    else:
        assert found == [{"ipBlock": {"cidr": cidr}} for cidr in expected]


def test_explicit_gateway_sources_win_over_segments(engine: Render) -> None:
    peers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "lb"}}}]
    found = _gateway_sources(engine({"segments": SEGMENTS, "zones": CLOSED_ZONES,
                                     "gateway": {"networkPolicyFrom": peers}}))
    assert found == peers


def test_prometheus_may_scrape_a_restricted_gateway(engine: Render) -> None:
    rules = network_policies(engine({"segments": SEGMENTS, "zones": CLOSED_ZONES,
                                     "serviceMonitor": {"enabled": True}}))[
        f"{FULL}-gateway"]["spec"]["ingress"]
    assert rules[1]["from"] == [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "monitoring"}}}]


# --- refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "message"), [
    ({"controlPlane": {"bundleSigning": {"secretName": ""}}},
     "would publish an unsigned bundle"),
    ({"opa": {"bundle": {"signing": {"algorithm": "PS256"}}}}, "ES256 (EC P-256) or RS256"),
    ({"opa": {"bundle": {"signing": {"scope": "write"}}}}, "signs without a scope"),
    ({"controlPlane": {"enabled": False}}, "controlPlane.enabled is false"),
    ({"controlPlane": {"autoQuarantine": {"enabled": True}}}, "needs an ingester"),
    ({"monitor": {"alertsUrl": ALERTS}, "tls": {"clientCert": "off"}},
     "cannot admit the monitor"),
    ({"controlPlane": {"replicas": 2, "ca": {"secretName": "zonegate-ca"}}},
     "ReadWriteMany"),
    ({"tls": {"clientCA": {"secretName": ""}}}, "tls.clientCA.secretName is empty"),
    ({"monitor": {"alertsUrl": "http://control:8444/api/alerts"}}, "/monitor/alertsUrl"),
    ({"gateway": {"assertionKey": {"create": True}}}, "privateKey"),
], ids=["unsigned-bundle", "algorithm-control-cannot-sign", "scope", "no-control-plane",
        "auto-quarantine-without-ingester", "monitor-without-mtls", "ca-rwo-two-replicas",
        "no-client-ca", "alerts-over-http", "assertion-key-create-empty"])
def test_wiring_that_cannot_work_is_refused(engine: Render, overrides: dict[str, Any],
                                            message: str) -> None:
    with pytest.raises(RenderError) as caught:
        engine(overrides)
    assert message in str(caught.value)


def test_a_bundle_server_needs_no_control_plane_signing(engine: Render) -> None:
    manifests = engine({"opa": {"bundle": {"url": "https://bundles.city.example",
                                           "signing": {"algorithm": "PS256"}}},
                        "controlPlane": {"bundleSigning": {"secretName": ""}}})
    assert config_of(manifests).control.bundle_signing_key is None


def test_notes_render() -> None:
    assert "Gateway (ingress PEP)" in render_notes({})
