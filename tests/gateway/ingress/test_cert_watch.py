"""A running server puts a renewed certificate in force: new TLS connections on loopback
get the new certificate, and a pair that cannot be served (a certificate beside a key it
does not match, garbage, an expired certificate) never reaches the live context. End to
end, a real `zonegate serve` renewed in place serves the new certificate without a
restart."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from prometheus_client import CollectorRegistry, Counter, Gauge

from gateway.ingress.cert_watch import CertificateWatch
from pki.authority import CertificateAuthority
from pki.durable import atomic_write
from tests.gateway.ingress.conftest import start_upstream
from tests.gateway.ingress.test_serve import POLICIES, _free_port, _serve


def _server_pair(ca: CertificateAuthority, now: datetime | None = None) -> tuple[bytes, bytes]:
    issued = ca.issue(zone="edge", kind="svc", name="gateway", usages=("server",),
                      ip_addresses=("127.0.0.1",), now=now)
    assert issued.key_pem is not None
    return issued.chain_pem, issued.key_pem


def _serial(pem: bytes) -> int:
    return x509.load_pem_x509_certificates(pem)[0].serial_number


async def _served_serial(port: int, ca: Path) -> int:
    """The serial of the certificate a fresh TLS connection to `port` is shown."""
    context = ssl.create_default_context(cafile=str(ca))
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True)
        return x509.load_der_x509_certificate(der).serial_number
    finally:
        writer.close()
        await writer.wait_closed()


@dataclass
class Listener:
    ca: CertificateAuthority
    cert: Path
    key: Path
    port: int
    watch: CertificateWatch
    reloads: Counter
    expiry: Gauge

    async def serial(self) -> int:
        return await _served_serial(self.port, self.ca.directory / "ca.pem")

    def count(self, result: str) -> float:
        value: float = self.reloads.labels(result)._value.get()
        return value


@pytest.fixture
async def listener(tmp_path: Path) -> AsyncIterator[Listener]:
    ca = CertificateAuthority.init(tmp_path / "ca", "city.example")
    cert_pem, key_pem = _server_pair(ca)
    cert, key = tmp_path / "gw.crt", tmp_path / "gw.key"
    cert.write_bytes(cert_pem)
    key.write_bytes(key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    registry = CollectorRegistry()
    reloads = Counter("reloads", "", ["result"], registry=registry)
    expiry = Gauge("expiry", "", registry=registry)
    watch = CertificateWatch(context, cert, key, reloads=reloads, expiry=expiry)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        yield Listener(ca, cert, key, port, watch, reloads, expiry)
    finally:
        server.close()
        await server.wait_closed()


async def test_a_renewed_pair_is_served_to_new_connections(listener: Listener) -> None:
    first = await listener.serial()
    assert first == _serial(listener.cert.read_bytes())
    assert listener.watch.check() is False  # nothing changed
    cert_pem, key_pem = _server_pair(listener.ca)
    atomic_write(listener.key, key_pem)
    atomic_write(listener.cert, cert_pem)
    assert listener.watch.check() is True
    assert await listener.serial() == _serial(cert_pem) != first
    assert listener.count("ok") == 1 and listener.count("error") == 0
    leaf = x509.load_pem_x509_certificates(cert_pem)[0]
    assert listener.expiry._value.get() == leaf.not_valid_after_utc.timestamp()


async def test_half_a_renewal_keeps_the_pair_in_force_until_it_completes(
        listener: Listener) -> None:
    first = await listener.serial()
    cert_pem, key_pem = _server_pair(listener.ca)
    atomic_write(listener.cert, cert_pem)  # the new certificate, the old key
    assert listener.watch.check() is False
    assert listener.count("error") == 1
    assert await listener.serial() == first  # still served, still valid
    atomic_write(listener.key, key_pem)  # the renewal completes: tried again, loaded
    assert listener.watch.check() is True
    assert await listener.serial() == _serial(cert_pem)


@pytest.mark.parametrize("case", ["garbage-cert", "garbage-key", "expired", "key-missing"])
async def test_a_pair_that_cannot_be_served_never_reaches_the_listener(
        listener: Listener, case: str) -> None:
    first = await listener.serial()
    if case == "garbage-cert":
        atomic_write(listener.cert,
                     b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    elif case == "garbage-key":
        atomic_write(listener.key, b"not a key")
    elif case == "expired":
        cert_pem, key_pem = _server_pair(
            listener.ca, now=datetime.now(UTC) - timedelta(hours=25))
        atomic_write(listener.key, key_pem)
        atomic_write(listener.cert, cert_pem)
    else:
        listener.key.unlink()  # mid-rename: the pair in force stays, nothing is counted
    assert listener.watch.check() is False
    assert listener.count("error") == (0 if case == "key-missing" else 1)
    assert await listener.serial() == first


@pytest.mark.slow
async def test_serve_presents_a_certificate_renewed_in_place(tmp_path: Path) -> None:
    ca = CertificateAuthority.init(tmp_path / "ca", "city.example")
    ca.write_crl()
    cert_pem, key_pem = _server_pair(ca)
    cert, key = tmp_path / "gw.crt", tmp_path / "gw.key"
    cert.write_bytes(cert_pem)
    key.write_bytes(key_pem)
    upstream, runner = await start_upstream()
    port = _free_port()
    config = tmp_path / "gateway.yaml"
    config.write_text(f"""
trust_domain: city.example
listen: {{ingress: "127.0.0.1:{port}"}}
tls: {{cert: {cert}, key: {key}, cert_refresh_seconds: 0.5}}
policy: {{engine: embedded, bundle: "{POLICIES}"}}
zones:
  - {{name: open, prefix: /zones/open/, upstream: "{upstream.url}", level: L1}}
""")
    served = await _serve(config, tmp_path / "audit.jsonl")
    proc = served.proc
    ca_pem = tmp_path / "ca" / "ca.pem"
    try:
        await served.wait_for("listening")
        assert await _served_serial(port, ca_pem) == _serial(cert_pem)
        renewed, renewed_key = _server_pair(ca)
        atomic_write(key, renewed_key)
        atomic_write(cert, renewed)
        reloaded = await served.wait_for("certificate reloaded", limit=30)
        assert reloaded["cert"] == str(cert)
        assert await _served_serial(port, ca_pem) == _serial(renewed)
    finally:
        proc.terminate()
        await proc.wait()
        await runner.cleanup()
