"""The data plane with every real component: the embedded Rego engine running policies/,
the dev IdP's tokens, pki/ device certificates over mTLS, the monitor's quarantine file
and classify/'s masking."""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

import pytest

from gateway.config import PolicyConfig
from gateway.pdp import build_engine
from gateway.pdp.port import PolicyEngine
from pki.authority import CertificateAuthority
from tests.gateway.ingress.conftest import RESIDENT_ID, Harness

POLICIES = Path(__file__).parents[3] / "policies"


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return build_engine(PolicyConfig(engine="embedded", bundle=POLICIES))


async def _real(factory: Any, engine: PolicyEngine, **kwargs: Any) -> Harness:
    gw: Harness = await factory(**kwargs)
    gw.gateway.set_engine(engine)
    return gw


async def test_anonymous_gets_401_bearer(harness_factory: Any, engine: PolicyEngine) -> None:
    gw = await _real(harness_factory, engine)
    async with gw.client.get(f"{gw.url}/zones/open/info") as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == 'Bearer realm="zonegate"'


async def test_open_zone_masks_above_the_policy_ceiling(harness_factory: Any,
                                                        engine: PolicyEngine) -> None:
    gw = await _real(harness_factory, engine)
    async with gw.client.get(f"{gw.url}/zones/open/records/7", headers=gw.token()) as resp:
        assert resp.status == 200
        body = await resp.json()
    # the doctor is cleared for L4, but the open zone caps responses at L1
    assert body["resident_id"] != RESIDENT_ID and body["resident_id"].endswith("002X")
    event = gw.audit_events()[-1]
    assert (event["allow"], event["response_level"], event["dlp"]) == (True, "L4", "masked")
    assert event["policy_revision"] == engine.revision


async def test_health_without_managed_device_is_denied(harness_factory: Any,
                                                       engine: PolicyEngine) -> None:
    gw = await _real(harness_factory, engine, segments={"hospital-net": ("127.0.0.0/8",)})
    async with gw.client.get(f"{gw.url}/zones/health/records/7", headers=gw.token()) as resp:
        assert resp.status == 403
        assert "device-unmanaged" in (await resp.json())["reasons"]


async def test_health_from_wrong_segment_is_denied(harness_factory: Any,
                                                   engine: PolicyEngine) -> None:
    gw = await _real(harness_factory, engine, segments={"city-net": ("127.0.0.0/8",)})
    async with gw.client.get(f"{gw.url}/zones/health/records/7", headers=gw.token()) as resp:
        assert resp.status == 403
        assert "zone-not-permitted" in (await resp.json())["reasons"]


@pytest.fixture(scope="module")
def device_pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, ssl.SSLContext]:
    base = tmp_path_factory.mktemp("realpki")
    ca = CertificateAuthority.init(base / "ca", "city.example")
    server = ca.issue(zone="edge", kind="svc", name="gateway", usages=("server",),
                      ip_addresses=("127.0.0.1",))
    device = ca.issue(zone="health", kind="device", name="ward-3-tablet")
    assert server.key_pem is not None and device.key_pem is not None
    (base / "gw.crt").write_bytes(server.chain_pem)
    (base / "gw.key").write_bytes(server.key_pem)
    (base / "dev.crt").write_bytes(device.chain_pem)
    (base / "dev.key").write_bytes(device.key_pem)
    client = ssl.create_default_context(cafile=str(base / "ca" / "ca.pem"))
    client.load_cert_chain(base / "dev.crt", base / "dev.key")
    return base, base / "ca", client


async def test_doctor_on_managed_device_reads_health(
    harness_factory: Any, engine: PolicyEngine, device_pki: tuple[Path, Path, ssl.SSLContext],
    tmp_path: Path,
) -> None:
    base, ca_dir, client = device_pki
    tls = (f"tls:\n  cert: {base / 'gw.crt'}\n  key: {base / 'gw.key'}\n"
           f"  client_ca: {ca_dir / 'ca.pem'}\n  client_cert: required\n")
    quarantine = tmp_path / "quarantine.json"
    gw = await _real(harness_factory, engine, config_extra=tls, certificates=ca_dir,
                     client_ssl=client, segments={"hospital-net": ("127.0.0.0/8",)},
                     quarantine_file=quarantine)
    async with gw.client.get(f"{gw.url}/zones/health/records/7", headers=gw.token()) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["resident_id"] == RESIDENT_ID  # L4 caller, L4 zone
    event = gw.audit_events()[-1]
    assert (event["device"], event["device_trust"]) == ("ward-3-tablet", "trusted")
    # the monitor quarantines the tablet: the next request is denied by policy
    quarantine.write_text(json.dumps({"version": 1, "devices": [{
        "device_id": "ward-3-tablet", "mac": None, "ips": [], "reason": "beaconing",
        "rule_id": "beaconing", "since": "2026-01-01T00:00:00Z", "until": None,
        "source": "monitor"}]}))
    async with gw.client.get(f"{gw.url}/zones/health/records/7", headers=gw.token()) as resp:
        assert resp.status == 403
        assert "device-quarantined" in (await resp.json())["reasons"]
