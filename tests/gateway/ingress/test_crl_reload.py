"""A running gateway picks up a new CRL: a certificate revoked after start-up is refused at
the handshake and by pki/'s verifier, a broken CRL file never loosens anything, and a real
`zonegate serve` refuses a freshly revoked device within its refresh interval."""

from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from prometheus_client import CollectorRegistry, Counter, Gauge

from gateway.ingress.crl_watch import CRLWatch
from pki.authority import CertificateAuthority
from pki.errors import PKIError
from pki.verify import CertificateVerifier
from tests.gateway.ingress.conftest import start_upstream
from tests.gateway.ingress.test_serve import POLICIES, _free_port, _serve


def _issue(ca: CertificateAuthority, out: Path, name: str) -> tuple[Path, Path, int]:
    issued = ca.issue(zone="iot", kind="device", name=name)
    assert issued.key_pem is not None
    cert, key = out / f"{name}.crt", out / f"{name}.key"
    cert.write_bytes(issued.chain_pem)
    key.write_bytes(issued.key_pem)
    return cert, key, x509.load_pem_x509_certificate(issued.chain_pem).serial_number


def _server_certificate(ca: CertificateAuthority, out: Path) -> None:
    """The gateway's certificate for 127.0.0.1, as gw.crt (chain) and gw.key in `out`."""
    server = ca.issue(zone="edge", kind="svc", name="gateway", usages=("server",),
                      ip_addresses=("127.0.0.1",))
    assert server.key_pem is not None
    (out / "gw.crt").write_bytes(server.chain_pem)
    (out / "gw.key").write_bytes(server.key_pem)


def _watch(context: ssl.SSLContext, crl: Path,
           verifier: CertificateVerifier) -> tuple[CRLWatch, Counter]:
    registry = CollectorRegistry()
    reloads = Counter("reloads", "", ["check", "result"], registry=registry)
    return CRLWatch(context=context, context_crl=crl, verifier=verifier, reloads=reloads,
                    last_success=Gauge("last", "", registry=registry)), reloads


def _leaf(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(path.read_bytes())[0]


def test_watch_reloads_both_checks_and_keeps_the_old_crl_on_garbage(tmp_path: Path) -> None:
    ca = CertificateAuthority.init(tmp_path / "ca", "city.example")
    ca.write_crl()
    good_cert, _, _ = _issue(ca, tmp_path, "cam-good")
    bad_cert, _, bad_serial = _issue(ca, tmp_path, "cam-bad")
    verifier = CertificateVerifier.from_ca_dir(tmp_path / "ca", "city.example")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_verify_locations(cafile=tmp_path / "ca" / "ca.pem")
    context.load_verify_locations(cafile=ca.crl_path)
    watch, reloads = _watch(context, ca.crl_path, verifier)
    verifier.verify(_leaf(bad_cert))  # not revoked yet
    assert watch.check() == []  # nothing changed

    ca.revoke(bad_serial)
    ca.write_crl()
    assert sorted(watch.check()) == ["handshake", "verifier"]
    with pytest.raises(PKIError, match="revoked"):
        verifier.verify(_leaf(bad_cert))
    verifier.verify(_leaf(good_cert))
    assert reloads.labels("verifier", "ok")._value.get() == 1
    assert context.cert_store_stats()["crl"] == 2  # the new CRL joined the old one

    ca.crl_path.write_bytes(b"-----BEGIN X509 CRL-----\ngarbage\n-----END X509 CRL-----\n")
    assert watch.check() == []
    assert reloads.labels("handshake", "error")._value.get() == 1
    assert reloads.labels("verifier", "error")._value.get() == 1
    with pytest.raises(PKIError, match="revoked"):  # still in force
        verifier.verify(_leaf(bad_cert))
    assert context.cert_store_stats()["crl"] == 2  # the broken file never reached OpenSSL


async def _answers(url: str, ca: Path, leaf: tuple[Path, Path]) -> bool:
    """Whether a fresh TLS connection with `leaf` gets an HTTP answer."""
    context = ssl.create_default_context(cafile=str(ca))
    context.load_cert_chain(*leaf)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(
                ssl=context, force_close=True)) as session, session.get(url) as resp:
            await resp.read()
            return True
    except (aiohttp.ClientConnectionError, aiohttp.ClientSSLError):
        return False


@pytest.mark.slow
async def test_serve_refuses_a_device_revoked_after_start(tmp_path: Path) -> None:
    ca = CertificateAuthority.init(tmp_path / "ca", "city.example")
    ca.write_crl()
    _server_certificate(ca, tmp_path)
    cam, cam_key, cam_serial = _issue(ca, tmp_path, "cam-7")
    other, other_key, _ = _issue(ca, tmp_path, "cam-8")
    upstream, runner = await start_upstream()
    port = _free_port()
    config = tmp_path / "gateway.yaml"
    config.write_text(f"""
trust_domain: city.example
listen: {{ingress: "127.0.0.1:{port}"}}
tls:
  cert: {tmp_path / 'gw.crt'}
  key: {tmp_path / 'gw.key'}
  client_ca: {tmp_path / 'ca' / 'ca.pem'}
  client_cert: required
  crl: {ca.crl_path}
  crl_refresh_seconds: 0.5
policy: {{engine: embedded, bundle: "{POLICIES}"}}
zones:
  - {{name: open, prefix: /zones/open/, upstream: "{upstream.url}", level: L1}}
""")
    served = await _serve(config, tmp_path / "audit.jsonl")
    proc = served.proc
    url = f"https://127.0.0.1:{port}/zones/open/x"
    ca_pem = tmp_path / "ca" / "ca.pem"
    try:
        await served.wait_for("listening")
        assert await _answers(url, ca_pem, (cam, cam_key))
        ca.revoke(cam_serial)
        ca.write_crl()
        await served.wait_for("crl reloaded", limit=30)
        deadline = time.monotonic() + 30  # only bounds a failure; normally one refresh
        while await _answers(url, ca_pem, (cam, cam_key)):
            assert time.monotonic() < deadline, "the revoked device is still admitted"
            await asyncio.sleep(0.1)
        assert await _answers(url, ca_pem, (other, other_key))  # the others are unaffected
    finally:
        proc.terminate()
        await proc.wait()
        await runner.cleanup()
