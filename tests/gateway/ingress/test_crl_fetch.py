"""`tls.crl_url`: a running gateway fetches the CA's CRL over real HTTP(S) on loopback and
puts a newer one in force in both checks; anything else (garbage, a foreign signer, an
older CRL, an error status, a redirect, an oversized or hanging answer, an untrusted TLS
server) keeps the CRL in force. End to end, a device revoked through a real control
plane's API is refused by a real `zonegate serve` whose mounted CRL never changed."""

from __future__ import annotations

import asyncio
import shutil
import signal
import ssl
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from prometheus_client import CollectorRegistry, Counter, Gauge

from gateway.config import TLSConfig
from gateway.idp import DevIdP
from gateway.ingress.crl_fetch import CRLFetch
from gateway.store import Store
from pki.authority import CertificateAuthority
from pki.crl import MAX_CRL_BYTES
from pki.errors import PKIError
from pki.verify import CertificateVerifier
from tests.gateway.control.test_serve import _config as control_yaml
from tests.gateway.ingress.conftest import start_upstream
from tests.gateway.ingress.test_crl_reload import (
    _answers,
    _issue,
    _leaf,
    _server_certificate,
)
from tests.gateway.ingress.test_serve import POLICIES, Served, _free_port, _serve


@dataclass
class CRLServer:
    """A loopback HTTP(S) server whose `/crl.pem` answer the test sets."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hang: asyncio.Event | None = None
    streamed: int = 0  # >0: send this many bytes, chunked, with no Content-Length
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.hang is not None:
            await self.hang.wait()
        if self.streamed:
            resp = web.StreamResponse()
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            chunk = b"x" * (1 << 20)
            for _ in range(self.streamed // len(chunk) + 1):
                await resp.write(chunk)
            return resp
        return web.Response(status=self.status, body=self.body, headers=self.headers)


@pytest.fixture
async def crl_server() -> AsyncIterator[CRLServer]:
    server = CRLServer()
    async with _serving(server, None) as url:
        server.url = url
        yield server


class _serving:
    def __init__(self, server: CRLServer, context: ssl.SSLContext | None) -> None:
        self._server, self._context = server, context
        app = web.Application()
        app.router.add_get("/crl.pem", server.handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)

    async def __aenter__(self) -> str:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._context)
        await site.start()
        port = self._runner.addresses[0][1]
        scheme = "https" if self._context is not None else "http"
        return f"{scheme}://127.0.0.1:{port}/crl.pem"

    async def __aexit__(self, *exc: object) -> None:
        if self._server.hang is not None:
            self._server.hang.set()
        await self._runner.cleanup()


@dataclass
class Setup:
    ca: CertificateAuthority
    verifier: CertificateVerifier
    context: ssl.SSLContext
    cam: Path
    cam_serial: int
    reloads: Counter
    next_update: Gauge

    def fetcher(self, url: str, server_ca: Path | None = None,
                timeout: float = 10.0) -> CRLFetch:
        registry = CollectorRegistry()
        return CRLFetch(url, verifier=self.verifier, context=self.context,
                        server_ca=server_ca, reloads=self.reloads,
                        last_success=Gauge("last", "", registry=registry),
                        next_update=self.next_update, timeout=timeout)

    def revoked(self) -> bool:
        try:
            self.verifier.verify(_leaf(self.cam))
        except PKIError as exc:
            assert "revoked" in str(exc)
            return True
        return False

    def count(self, result: str) -> float:
        value: float = self.reloads.labels("fetch", result)._value.get()
        return value


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    """A CA, a gateway-side copy of its first CRL (the mounted file), a device."""
    ca = CertificateAuthority.init(tmp_path / "ca", "city.example")
    ca.write_crl()
    seed = tmp_path / "mounted-crl.pem"
    shutil.copy(ca.crl_path, seed)
    cam, _, serial = _issue(ca, tmp_path, "cam-1")
    certificates = x509.load_pem_x509_certificates((tmp_path / "ca" / "ca.pem").read_bytes())
    verifier = CertificateVerifier(
        roots=[c for c in certificates if c.subject == c.issuer],
        intermediates=[c for c in certificates if c.subject != c.issuer],
        crls=[x509.load_pem_x509_crl(seed.read_bytes())], trust_domain="city.example",
        crl_path=seed)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_verify_locations(cafile=tmp_path / "ca" / "ca.pem")
    context.load_verify_locations(cafile=seed)
    registry = CollectorRegistry()
    return Setup(ca, verifier, context, cam, serial,
                 Counter("reloads", "", ["check", "result"], registry=registry),
                 Gauge("next", "", registry=registry))


async def test_a_newer_crl_is_put_in_force_in_both_checks_once(
        setup: Setup, crl_server: CRLServer) -> None:
    setup.ca.revoke(setup.cam_serial)
    setup.ca.write_crl()
    crl_server.body = setup.ca.crl_path.read_bytes()
    fetch = setup.fetcher(crl_server.url)
    try:
        assert not setup.revoked()
        assert await fetch.check() is True
        assert setup.revoked()
        assert setup.context.cert_store_stats()["crl"] == 2  # beside the mounted one
        assert setup.count("ok") == 1
        crl = x509.load_pem_x509_crl(crl_server.body)
        assert crl.next_update_utc is not None
        assert setup.next_update._value.get() == crl.next_update_utc.timestamp()
        # the same CRL again changes nothing and adds nothing to OpenSSL's store
        assert await fetch.check() is False
        assert setup.context.cert_store_stats()["crl"] == 2 and setup.count("ok") == 1
        assert setup.count("error") == 0
    finally:
        await fetch.close()


async def test_a_der_crl_is_accepted(setup: Setup, crl_server: CRLServer) -> None:
    setup.ca.revoke(setup.cam_serial)
    setup.ca.write_crl()
    crl = x509.load_pem_x509_crl(setup.ca.crl_path.read_bytes())
    crl_server.body = crl.public_bytes(Encoding.DER)
    fetch = setup.fetcher(crl_server.url)
    try:
        assert await fetch.check() is True and setup.revoked()
        assert setup.context.cert_store_stats()["crl"] == 2
    finally:
        await fetch.close()


def _foreign_crl(tmp_path: Path) -> bytes:
    foreign = CertificateAuthority.init(tmp_path / "foreign", "city.example")
    foreign.write_crl()
    return foreign.crl_path.read_bytes()


@pytest.mark.parametrize("case", ["garbage", "truncated-pem", "foreign-signer", "not-found",
                                  "server-error", "redirect", "oversized-declared",
                                  "oversized-streamed", "empty"])
async def test_a_bad_answer_keeps_the_crl_in_force(setup: Setup, crl_server: CRLServer,
                                                  tmp_path: Path, case: str) -> None:
    # the CRL in force already revokes cam-1; every bad answer must leave it so
    setup.ca.revoke(setup.cam_serial)
    setup.ca.write_crl()
    good = setup.ca.crl_path.read_bytes()
    crl_server.body = good
    fetch = setup.fetcher(crl_server.url)
    try:
        assert await fetch.check() is True and setup.revoked()
        answers: dict[str, tuple[int, bytes, dict[str, str]]] = {
            "garbage": (200, b"not a crl at all", {}),
            "truncated-pem": (200, good[: len(good) // 2], {}),
            "foreign-signer": (200, _foreign_crl(tmp_path), {}),
            "not-found": (404, b"", {}),
            "server-error": (503, b"", {}),
            "redirect": (302, b"", {"Location": "http://127.0.0.1:9/crl.pem"}),
            "oversized-declared": (200, b"x" * (MAX_CRL_BYTES + 1), {}),
            "empty": (200, b"", {}),
        }
        if case == "oversized-streamed":
            crl_server.streamed = MAX_CRL_BYTES + 1
        else:
            crl_server.status, crl_server.body, crl_server.headers = answers[case]
        assert await fetch.check() is False
        assert setup.count("error") == 1
        assert setup.revoked()
        assert setup.context.cert_store_stats()["crl"] == 2  # nothing reached OpenSSL
    finally:
        await fetch.close()


async def test_an_older_crl_never_rolls_a_revocation_back(setup: Setup,
                                                         crl_server: CRLServer) -> None:
    before = setup.ca.crl_path.read_bytes()  # lists nothing
    setup.ca.revoke(setup.cam_serial)
    setup.ca.write_crl()
    crl_server.body = setup.ca.crl_path.read_bytes()
    fetch = setup.fetcher(crl_server.url)
    try:
        assert await fetch.check() is True
        crl_server.body = before  # a replayed, validly signed, earlier CRL
        assert await fetch.check() is False
        assert setup.count("error") == 1 and setup.revoked()
    finally:
        await fetch.close()


def test_reload_of_an_older_file_is_refused_too(setup: Setup, tmp_path: Path) -> None:
    older = tmp_path / "older.pem"
    shutil.copy(setup.verifier.crl_path or "", older)
    setup.ca.revoke(setup.cam_serial)
    setup.ca.write_crl()
    setup.verifier.reload_crl(setup.ca.crl_path)
    with pytest.raises(PKIError, match="older than the CRL in force"):
        setup.verifier.reload_crl(older)
    assert setup.revoked()


async def test_a_hanging_server_is_a_bounded_failure(setup: Setup,
                                                    crl_server: CRLServer) -> None:
    crl_server.hang = asyncio.Event()
    fetch = setup.fetcher(crl_server.url, timeout=0.5)
    try:
        async with asyncio.timeout(30):  # only bounds a hang of the fetch itself
            assert await fetch.check() is False
        assert setup.count("error") == 1
    finally:
        await fetch.close()


async def test_an_unreachable_url_is_a_failure(setup: Setup) -> None:
    fetch = setup.fetcher(f"http://127.0.0.1:{_free_port()}/crl.pem")
    try:
        assert await fetch.check() is False and setup.count("error") == 1
    finally:
        await fetch.close()


async def test_https_is_verified_against_the_given_ca(setup: Setup, tmp_path: Path) -> None:
    issued = setup.ca.issue(zone="platform", kind="svc", name="control", usages=("server",),
                            ip_addresses=("127.0.0.1",))
    assert issued.key_pem is not None
    (tmp_path / "srv.crt").write_bytes(issued.chain_pem)
    (tmp_path / "srv.key").write_bytes(issued.key_pem)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "srv.crt", tmp_path / "srv.key")
    setup.ca.revoke(setup.cam_serial)
    setup.ca.write_crl()
    server = CRLServer(body=setup.ca.crl_path.read_bytes())
    foreign = CertificateAuthority.init(tmp_path / "foreign", "city.example")
    async with _serving(server, server_context) as url:
        untrusted = setup.fetcher(url, server_ca=foreign.directory / "ca.pem")
        trusted = setup.fetcher(url, server_ca=setup.ca.directory / "ca.pem")
        try:
            assert await untrusted.check() is False and setup.count("error") == 1
            assert not setup.revoked()
            assert await trusted.check() is True and setup.revoked()
        finally:
            await untrusted.close()
            await trusted.close()


@pytest.mark.parametrize(("fields", "message"), [
    ({"crl_url": "http://ctl/crl.pem"}, "no client certificate is verified"),
    ({"crl_url": "ftp://ctl/crl.pem", "client_cert": "required", "client_ca": "ca.pem"},
     "http:// or https://"),
    ({"crl_url": "http://ctl/crl.pem", "client_cert": "required", "client_ca": "ca.pem",
      "crl_fetch_seconds": 0}, "greater than or equal to 1"),
])
def test_config_refuses_a_crl_url_that_cannot_work(fields: dict[str, object],
                                                   message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TLSConfig.model_validate({"cert": "gw.crt", "key": "gw.key", **fields})


# -- end to end: a real control plane, a real gateway ------------------------------------


@pytest.mark.slow
async def test_serve_refuses_a_device_revoked_through_the_control_plane(
        tmp_path: Path, idp: DevIdP) -> None:
    ca = CertificateAuthority.init(tmp_path / "ca", "city.example")
    ca.write_crl()
    # the chart's mounted Secret: the CA's public files, never changed while running
    public = tmp_path / "mounted"
    public.mkdir()
    for name in ("root.crt", "intermediate.crt", "ca.pem", "crl.pem"):
        shutil.copy(tmp_path / "ca" / name, public / name)
    mounted = public / "crl.pem"
    _server_certificate(ca, tmp_path)
    cam, cam_key, cam_serial = _issue(ca, tmp_path, "cam-7")
    other, other_key, _ = _issue(ca, tmp_path, "cam-8")

    control_port, ingress_port = _free_port(), _free_port()
    control_config = control_yaml(tmp_path, idp, control_port,
                                  f"control: {{ca_dir: {tmp_path / 'ca'}}}\n")
    with Store.open(f"sqlite:///{tmp_path / 'zonegate.db'}") as store:
        store.migrate()
    upstream, runner = await start_upstream()
    gateway_config = tmp_path / "ingress.yaml"  # control_yaml wrote gateway.yaml
    gateway_config.write_text(f"""
trust_domain: city.example
listen: {{ingress: "127.0.0.1:{ingress_port}"}}
tls:
  cert: {tmp_path / 'gw.crt'}
  key: {tmp_path / 'gw.key'}
  client_ca: {public / 'ca.pem'}
  client_cert: required
  crl: {mounted}
  crl_url: "http://127.0.0.1:{control_port}/crl.pem"
  crl_fetch_seconds: 1
policy: {{engine: embedded, bundle: "{POLICIES}"}}
zones:
  - {{name: open, prefix: /zones/open/, upstream: "{upstream.url}", level: L1}}
""")
    cli = [sys.executable, "-c", "import sys; from gateway.cli import main; sys.exit(main())"]
    control = Served(await asyncio.create_subprocess_exec(
        *cli, "serve", "--config", str(control_config), "--role", "control",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE))
    gateway: Served | None = None
    url = f"https://127.0.0.1:{ingress_port}/zones/open/x"
    ca_pem = tmp_path / "ca" / "ca.pem"
    try:
        await control.wait_for("control plane listening")
        gateway = await _serve(gateway_config, tmp_path / "audit.jsonl")
        await gateway.wait_for("listening")
        assert await _answers(url, ca_pem, (cam, cam_key))

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{control_port}") as client:
            revoked = await client.post(
                f"/api/certificates/{cam_serial:x}/revoke", json={"reason": "keyCompromise"},
                headers={"Authorization": f"Bearer {idp.mint(user='officer')}"})
            assert revoked.status_code == 200, revoked.text
        await gateway.wait_for("crl fetched", limit=30)
        deadline = time.monotonic() + 30  # only bounds a failure; normally one fetch
        while await _answers(url, ca_pem, (cam, cam_key)):
            assert time.monotonic() < deadline, "the revoked device is still admitted"
            await asyncio.sleep(0.1)
        assert await _answers(url, ca_pem, (other, other_key))
        assert mounted.read_bytes() != ca.crl_path.read_bytes()  # only the fetch knew
        revoked_tls = ssl.create_default_context(cafile=str(ca_pem))
        revoked_tls.load_cert_chain(cam, cam_key)
        async with httpx.AsyncClient(verify=revoked_tls) as c:
            # refused at the handshake; with TLS 1.3 the client may see it on its first read
            with pytest.raises(httpx.TransportError):
                await c.get(url)
        tls = ssl.create_default_context(cafile=str(ca_pem))
        tls.load_cert_chain(other, other_key)
        async with httpx.AsyncClient(verify=tls) as client:
            metrics = (await client.get(f"https://127.0.0.1:{ingress_port}/metrics")).text
        assert 'zonegate_crl_reloads_total{check="fetch",result="ok"}' in metrics
    finally:
        for served in (gateway, control):
            if served is not None and served.proc.returncode is None:
                served.proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(served.proc.wait(), 60)
        await runner.cleanup()
