"""The TLS listener with real certificates from pki/: client certificates off, optional,
required, and revoked; the peer certificate reaches the Authenticator and the policy."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pki.authority import CertificateAuthority
from tests.gateway.ingress.conftest import Harness


@dataclass(frozen=True)
class Pki:
    ca_dir: Path
    authority: CertificateAuthority
    files: Path

    def leaf(self, name: str, kind: str = "device", zone: str = "iot") -> tuple[Path, Path]:
        issued = self.authority.issue(zone=zone, kind=kind, name=name)  # type: ignore[arg-type]
        assert issued.key_pem is not None
        cert, key = self.files / f"{name}.crt", self.files / f"{name}.key"
        cert.write_bytes(issued.chain_pem)
        key.write_bytes(issued.key_pem)
        return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    base = tmp_path_factory.mktemp("pki")
    authority = CertificateAuthority.init(base / "ca", "city.example")
    server = authority.issue(zone="edge", kind="svc", name="gateway", usages=("server",),
                             dns_names=("localhost",), ip_addresses=("127.0.0.1",))
    assert server.key_pem is not None
    (base / "gw.crt").write_bytes(server.chain_pem)
    (base / "gw.key").write_bytes(server.key_pem)
    return Pki(base / "ca", authority, base)


def _tls(pki: Pki, mode: str, crl: bool = False) -> str:
    lines = ["tls:", f"  cert: {pki.files / 'gw.crt'}", f"  key: {pki.files / 'gw.key'}",
             f"  client_ca: {pki.ca_dir / 'ca.pem'}", f"  client_cert: \"{mode}\""]
    if crl:
        lines.append(f"  crl: {pki.authority.crl_path}")
    return "\n".join(lines) + "\n"


def _client(pki: Pki, leaf: tuple[Path, Path] | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_dir / "ca.pem"))
    if leaf is not None:
        context.load_cert_chain(*leaf)
    return context


async def _gateway(factory: Any, pki: Pki, mode: str, leaf: tuple[Path, Path] | None,
                   crl: bool = False) -> Harness:
    harness: Harness = await factory(config_extra=_tls(pki, mode, crl), certificates=pki.ca_dir,
                                     client_ssl=_client(pki, leaf))
    return harness


async def test_required_with_device_certificate(harness_factory: Any, pki: Pki) -> None:
    gw = await _gateway(harness_factory, pki, "required", pki.leaf("cam-1"))
    async with gw.client.get(f"{gw.url}/zones/open/x") as resp:
        assert resp.status == 200
    doc: Any = gw.policy.seen[-1]
    assert doc["subject"]["type"] == "device"
    assert doc["subject"]["spiffe_id"].endswith("/device/cam-1")
    assert doc["device"]["trust"] == "trusted" and doc["device"]["id"] == "cam-1"
    assert doc["device"]["cert_fingerprint"].startswith("sha256:")
    headers = dict((k.lower(), v) for k, v in gw.upstream.seen[-1]["headers"])
    assert headers["x-forwarded-proto"] == "https"


async def test_required_without_certificate_fails_handshake(harness_factory: Any,
                                                            pki: Pki) -> None:
    gw = await _gateway(harness_factory, pki, "required", None)
    with pytest.raises((aiohttp.ClientConnectionError, aiohttp.ClientSSLError)):
        async with gw.client.get(f"{gw.url}/zones/open/x"):
            pass
    assert gw.upstream.seen == []


async def test_optional_without_certificate_uses_token(harness_factory: Any, pki: Pki) -> None:
    gw = await _gateway(harness_factory, pki, "optional", None)
    async with gw.client.get(f"{gw.url}/zones/transport/x", headers=gw.token()) as resp:
        assert resp.status == 200
    doc: Any = gw.policy.seen[-1]
    assert (doc["subject"]["id"], doc["device"]["trust"]) == ("doctor", "unknown")


async def test_optional_with_foreign_certificate_fails_handshake(
    harness_factory: Any, pki: Pki, tmp_path: Path
) -> None:
    other = CertificateAuthority.init(tmp_path / "other", "city.example")
    issued = other.issue(zone="iot", kind="device", name="intruder")
    assert issued.key_pem is not None
    cert, key = tmp_path / "i.crt", tmp_path / "i.key"
    cert.write_bytes(issued.chain_pem)
    key.write_bytes(issued.key_pem)
    gw = await _gateway(harness_factory, pki, "optional", (cert, key))
    with pytest.raises((aiohttp.ClientConnectionError, aiohttp.ClientSSLError)):
        async with gw.client.get(f"{gw.url}/zones/open/x"):
            pass
    assert gw.upstream.seen == []


async def test_off_ignores_client_certificates(harness_factory: Any, pki: Pki) -> None:
    gw = await _gateway(harness_factory, pki, "off", pki.leaf("cam-2"))
    async with gw.client.get(f"{gw.url}/zones/open/x") as resp:
        assert resp.status == 200
    doc: Any = gw.policy.seen[-1]
    assert doc["subject"]["authenticated"] is False and doc["device"]["id"] == ""


async def test_revoked_certificate_refused_with_crl(harness_factory: Any, pki: Pki) -> None:
    good = pki.leaf("cam-good")
    bad = pki.leaf("cam-revoked")
    from cryptography import x509

    serial = x509.load_pem_x509_certificate(bad[0].read_bytes()).serial_number
    pki.authority.revoke(serial)
    pki.authority.write_crl()
    gw = await _gateway(harness_factory, pki, "required", good, crl=True)
    async with gw.client.get(f"{gw.url}/zones/open/x") as resp:
        assert resp.status == 200
    gw_bad = await _gateway(harness_factory, pki, "required", bad, crl=True)
    with pytest.raises((aiohttp.ClientConnectionError, aiohttp.ClientSSLError)):
        async with gw_bad.client.get(f"{gw_bad.url}/zones/open/x"):
            pass


def _xfcc(pem: bytes) -> str:
    from urllib.parse import quote

    return f'By=spiffe://city.example/zone/edge/svc/envoy;Cert="{quote(pem.decode())}"'


@pytest.mark.parametrize(("trusted", "believed"), [("127.0.0.1/32", True),
                                                   ("10.9.0.0/16", False)])
async def test_xfcc_believed_only_from_a_trusted_front_proxy(
        harness_factory: Any, pki: Pki, trusted: str, believed: bool) -> None:
    cert, _key = pki.leaf(f"cam-xfcc-{believed}")
    tls = _tls(pki, "optional") + f'  trusted_xfcc_from: ["{trusted}"]\n'
    gw: Harness = await harness_factory(config_extra=tls, certificates=pki.ca_dir,
                                        client_ssl=_client(pki, None))
    headers = {"X-Forwarded-Client-Cert": _xfcc(cert.read_bytes()),
               "X-Forwarded-For": "10.20.5.5"}
    async with gw.client.get(f"{gw.url}/zones/open/x", headers=headers) as resp:
        assert resp.status == 200
    doc: Any = gw.policy.seen[-1]
    if believed:  # the front proxy (loopback here) vouched for the device's certificate
        assert doc["subject"]["type"] == "device"
        assert doc["subject"]["spiffe_id"].endswith(f"/device/cam-xfcc-{believed}")
        assert doc["device"]["trust"] == "trusted"
        assert doc["source"]["ip"] == "10.20.5.5"  # the client the proxy forwarded for
    else:
        assert doc["subject"]["authenticated"] is False and doc["device"]["id"] == ""
        assert doc["source"]["ip"] == "127.0.0.1"  # an untrusted peer's XFF means nothing
    names = {k.lower() for k, _ in gw.upstream.seen[-1]["headers"]}
    assert "x-forwarded-client-cert" not in names  # never passed on, believed or not
