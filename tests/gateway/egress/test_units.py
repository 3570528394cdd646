"""The pure parts and the file-backed lookups of the egress PEP, without a proxy."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mitmproxy.test import tflow

from classify import Classifier
from gateway.config import EgressCA, EgressConfig
from gateway.egress.addon import EgressGuard, GuardSettings
from gateway.egress.alerts import EGRESS_BLOCKED, EgressEvent, to_ecs
from gateway.egress.core import judge_body, refusal
from gateway.egress.dlp import OutboundInspector
from gateway.egress.errors import EgressError, EgressUnavailable
from gateway.egress.identify import InventoryIndex, Terminal, TerminalIdentifier
from gateway.egress.interception import interception_pem
from gateway.egress.policy_input import (
    OutboundRequest,
    canonical_host,
    egress_input,
    host_of_header,
)
from gateway.ingress.devices import QuarantineFileSource
from gateway.pdp import EmbeddedEngine
from gateway.store._alert_doc import validate
from tests.gateway.egress.harness import REPO, build_pki, write_inventory, write_quarantine

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("raw", "want"), [
    ("Example.org", "Example.org"),
    ("[2001:DB8::1]", "2001:db8::1"),
    ("2001:0db8:0:0::1", "2001:db8::1"),
    ("::ffff:10.0.0.1", "10.0.0.1"),
    ("10.0.0.1", "10.0.0.1"),
    ("010.0.0.1", "010.0.0.1"),  # not an IP to Python: stays a name, which no entry lists
])
def test_canonical_host(raw: str, want: str) -> None:
    assert canonical_host(raw) == want


@pytest.mark.parametrize(("header", "want"), [
    ("api.example:443", "api.example"),
    ("api.example", "api.example"),
    ("[::1]:8443", "::1"),
    ("api.example:x", "api.example:x"),  # malformed: kept, so the policy sees a mismatch
    ("", ""),
])
def test_host_of_header(header: str, want: str) -> None:
    assert host_of_header(header) == want


@pytest.mark.parametrize(("level", "ceiling", "mode", "maskable", "action"), [
    (None, "L1", "block", False, "forward"),
    ("L2", "L2", "block", True, "forward"),
    ("L3", "L2", "block", True, "block"),
    ("L3", "L2", "mask", True, "mask"),
    ("L3", "L2", "mask", False, "block"),
    ("L6", "L5", "mask", True, "mask"),
])
def test_judge_body(level: str | None, ceiling: str, mode: str, maskable: bool,
                    action: str) -> None:
    verdict = judge_body(level=level, masked_body=b"{}", ceiling=ceiling,
                         mode=mode, maskable=maskable)  # type: ignore[arg-type]
    assert verdict.action == action
    assert verdict.blocked == (action == "block")
    if action == "block":
        assert verdict.status == 403 and verdict.reasons == ("data-level-exceeded",)


def test_refusal_body() -> None:
    doc = json.loads(refusal(403, ("device-quarantined",), decision_id="d1", device="cam-7",
                             destination="a.example:443"))
    assert doc["error"] == "forbidden" and doc["reasons"] == ["device-quarantined"]
    assert json.loads(refusal(503, ("policy-unavailable",)))["error"] == "unavailable"
    assert json.loads(refusal(413, ("body-too-large",)))["error"] == "payload-too-large"


def _decide(terminal: Terminal, host: str, port: int = 443, method: str = "POST") -> object:
    engine = EmbeddedEngine.from_path(REPO / "policies", "zonegate/egress/decision")
    request = OutboundRequest(id="r", method=method, scheme="https", host=host, port=port,
                              path="/", time="2026-11-25T08:00:00Z", host_header=host)
    return engine.decide(egress_input(terminal, request))


def test_the_shipped_policy_decides_on_the_input_this_adapter_builds() -> None:
    cam = Terminal("10.20.0.7", "certificate", device_id="cam-7",
                   spiffe_id="spiffe://city.example/zone/transport/device/cam-7", kind="device",
                   trust="trusted")
    allowed = _decide(cam, "telemetry.camvendor.example")
    assert allowed.allow and allowed.obligations.max_level == "L2"  # type: ignore[attr-defined]
    refused = _decide(cam, "[2001:db8::1]")
    assert refused.reasons == ("destination-not-permitted",)  # type: ignore[attr-defined]
    nobody = _decide(Terminal("10.20.0.99"), "telemetry.camvendor.example")
    assert nobody.reasons == ("device-unmanaged",)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("sni", "host_header", "destination"), [
    ("api.vendor.example", "api.vendor.example", "api.vendor.example"),
    ("api.vendor.example", "paste.evil.example", "api.vendor.example"),  # fronting
    ("", "api.vendor.example:80", "api.vendor.example"),  # plain HTTP: the Host header
    ("", "", "10.215.9.9"),  # nothing named: the address the terminal dialled
])
def test_transparent_mode_connects_to_the_name_and_keeps_the_host_header(
        sni: str, host_header: str, destination: str) -> None:
    guard = EgressGuard(engine=EmbeddedEngine.from_path(REPO / "policies",
                                                        "zonegate/egress/decision"),
                        identifier=TerminalIdentifier(),
                        inspector=OutboundInspector(Classifier.default()),
                        settings=GuardSettings(mode="transparent"))
    flow = tflow.tflow()
    flow.request.data.host, flow.request.port = "10.215.9.9", 443
    flow.client_conn.sni = sni or None
    if host_header:
        flow.request.headers["Host"] = host_header
    outbound = guard._outbound(flow)
    assert (outbound.host, outbound.port, outbound.sni) == (destination, 443, sni)
    # the terminal's Host header reaches the policy (and the upstream) unchanged
    assert outbound.host_header == host_header == flow.request.headers.get("Host", "")
    assert flow.request.host == destination


def test_identification_by_inventory_and_quarantine(tmp_path: Path) -> None:
    write_inventory(tmp_path / "inventory.json")
    identifier = TerminalIdentifier(inventory=InventoryIndex(tmp_path / "inventory.json"),
                                    quarantine=QuarantineFileSource(tmp_path / "q.json"))
    sensor = identifier.identify("127.0.0.5", (), NOW)
    assert (sensor.identified_by, sensor.device_id, sensor.trust) == (
        "inventory", "02:00:00:00:00:05", "trusted")
    assert identifier.identify("127.0.0.6", (), NOW).trust == "trusted"
    write_quarantine(tmp_path / "q.json")  # the monitor quarantines it: picked up at once
    assert identifier.identify("127.0.0.6", (), NOW).trust == "quarantined"
    stranger = identifier.identify("127.0.0.7", (), NOW)
    assert (stranger.identified_by, stranger.device_id) == ("none", "")


@pytest.mark.parametrize("content", ["{not json", '{"version": 2, "devices": []}'])
def test_a_broken_inventory_fails_closed(tmp_path: Path, content: str) -> None:
    path = tmp_path / "inventory.json"
    path.write_text(content)
    with pytest.raises(EgressUnavailable):
        TerminalIdentifier(inventory=InventoryIndex(path)).identify("127.0.0.5", (), NOW)


def test_a_broken_quarantine_list_fails_closed(tmp_path: Path) -> None:
    (tmp_path / "q.json").write_text("[]")
    identifier = TerminalIdentifier(quarantine=QuarantineFileSource(tmp_path / "q.json"))
    with pytest.raises(EgressUnavailable):
        identifier.identify("127.0.0.5", (), NOW)


def test_a_presented_certificate_without_a_verifier_is_refused() -> None:
    terminal = TerminalIdentifier().identify("127.0.0.1", (b"\x30\x00",), NOW)
    assert terminal.certificate_error == "client-certificates-not-accepted"


def test_alert_document_is_accepted_by_the_store() -> None:
    event = EgressEvent(EGRESS_BLOCKED, Terminal("10.0.0.9", mac="02:00:00:00:00:09"),
                        "203.0.113.7", 443, "GET", ("destination-not-permitted",), "d1")
    doc = to_ecs(event, NOW.timestamp())
    assert doc["destination"] == {"ip": "203.0.113.7", "port": 443}
    assert doc["device"] == {"id": None}
    stored = validate(doc)
    assert (stored.rule_id, stored.source_ip, stored.group_key) == (
        "egress_blocked", "10.0.0.9", stored.group_key)


@pytest.fixture(scope="module")
def pki_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pki")
    build_pki(root)
    return root


def _config(root: Path, cert: str, key: str, trust: str = "ca/root.crt") -> EgressConfig:
    return EgressConfig(ca=EgressCA(cert=root / cert, key=root / key), root=root / trust)


def test_interception_pem_is_key_ca_then_root(pki_root: Path) -> None:
    pem = interception_pem(_config(pki_root, "egress-ca.crt", "egress-ca.key"))
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert pem.count(b"BEGIN CERTIFICATE") == 2


@pytest.mark.parametrize(("cert", "key", "trust", "message"), [
    ("egress-ca.crt", "cam-7.key", "ca/root.crt", "does not belong"),
    ("cam-7.crt", "cam-7.key", "ca/root.crt", "not a CA certificate"),
    ("egress-ca.crt", "egress-ca.key", "foreign/root.crt", "not issued by the root"),
    ("egress-ca.crt", "missing.key", "ca/root.crt", "cannot read"),
    ("egress-ca.crt", "egress-ca.crt", "ca/root.crt", "not a readable PEM private key"),
])
def test_interception_pem_refuses(pki_root: Path, cert: str, key: str, trust: str,
                                  message: str) -> None:
    with pytest.raises(EgressError, match=message):
        interception_pem(_config(pki_root, cert, key, trust))
