"""End to end over real TLS on loopback: the client certificate from the handshake.

A small aiohttp TLS server (certificates from pki/) takes the peer certificate the way the
data plane does (`transport.get_extra_info("ssl_object")`) and asks the Authenticator.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from gateway.identity import GatewayAuthenticator, InvalidCredentials, Presented
from gateway.idp import DevIdP
from tests.gateway.identity.conftest import LocalCA, MakeAuth, Workload

TLS = """tls:
  cert: gw.crt
  key: gw.key
  client_ca: ca.pem
  client_cert: optional
"""


def _write(tmp: Path, name: str, workload: Workload) -> tuple[Path, Path]:
    cert, key = tmp / f"{name}.crt", tmp / f"{name}.key"
    cert.write_bytes(workload.chain_pem)
    key.write_bytes(workload.key_pem)
    return cert, key


async def _server(auth: GatewayAuthenticator, ctx: ssl.SSLContext) -> AsyncIterator[str]:
    async def whoami(request: web.Request) -> web.Response:
        assert request.transport is not None
        ssl_object = request.transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        try:
            result = await auth.authenticate(Presented(
                authorization=request.headers.get("Authorization"), peer_cert_der=der,
                peer_ip=request.remote or ""))
        except InvalidCredentials as exc:
            return web.json_response({"error": exc.code}, status=401)
        return web.json_response(result.subject.to_input())

    app = web.Application()
    app.router.add_get("/whoami", whoami)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"https://{host}:{port}/whoami"
    finally:
        await runner.cleanup()


@pytest.fixture
async def tls_url(idp: DevIdP, make_auth: MakeAuth, test_ca: LocalCA,
                  tmp_path: Path) -> AsyncIterator[str]:
    server = test_ca.issue("edge", "svc", "gateway", usages=("server",),
                           dns_names=("localhost",), ip_addresses=("127.0.0.1",))
    cert, key = _write(tmp_path, "server", server)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(cafile=str(test_ca.directory / "root.crt"))
    ctx.load_verify_locations(cafile=str(test_ca.directory / "intermediate.crt"))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    auth = make_auth(idp.issuer, extra=TLS, certificates=test_ca.verifier())
    async for url in _server(auth, ctx):
        yield url


def _client_ctx(test_ca: LocalCA, tmp_path: Path, workload: Workload | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(test_ca.directory / "root.crt"))
    if workload is not None:
        cert, key = _write(tmp_path, "client", workload)
        ctx.load_cert_chain(cert, key)
    return ctx


async def test_device_certificate_over_tls(tls_url: str, test_ca: LocalCA,
                                           tmp_path: Path) -> None:
    device = test_ca.issue("transport", "device", "signal-4")
    ctx = _client_ctx(test_ca, tmp_path, device)
    async with aiohttp.ClientSession() as session, session.get(tls_url, ssl=ctx) as response:
        body = await response.json()
    assert response.status == 200
    assert body["type"] == "device" and body["spiffe_id"] == device.spiffe_id


async def test_token_plus_certificate_over_tls(tls_url: str, idp: DevIdP, test_ca: LocalCA,
                                               tmp_path: Path) -> None:
    device = test_ca.issue("health", "device", "tablet-1")
    ctx = _client_ctx(test_ca, tmp_path, device)
    headers = {"Authorization": f"Bearer {idp.mint(user='doctor')}"}
    async with aiohttp.ClientSession() as session, session.get(
            tls_url, ssl=ctx, headers=headers) as response:
        body = await response.json()
    assert (body["id"], body["clearance"], body["spiffe_id"]) == (
        "doctor", "L4", device.spiffe_id)


async def test_no_client_certificate_over_tls_is_anonymous(tls_url: str, test_ca: LocalCA,
                                                           tmp_path: Path) -> None:
    ctx = _client_ctx(test_ca, tmp_path, None)
    async with aiohttp.ClientSession() as session, session.get(tls_url, ssl=ctx) as response:
        body = await response.json()
    assert body["authenticated"] is False
