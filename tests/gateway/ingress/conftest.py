"""A real gateway on loopback: a real dev IdP, a real upstream, a real audit log.

Response DLP is classify/'s real Classifier. One collaborator is an in-process stand-in
written for these tests, and says so: `ScriptedPolicy` implements the PolicyEngine port
with a Python function each test can replace, so every data-plane branch can be reached
on purpose; test_real_stack.py runs the real embedded Rego engine and policies/.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.audit import AuditLog
from gateway.config import GatewayConfig, parse_config, resolve_paths
from gateway.identity import build_authenticator
from gateway.idp import DevIdP, demo_config
from gateway.ingress import GatewayRuntimeOptions, IngressGateway, Listener, build_gateway
from gateway.ingress.app import default_inspector, start_listener
from gateway.ingress.decision_index import DecisionIndexWriter
from gateway.ingress.tls import server_context
from gateway.metrics import GatewayMetrics
from gateway.pdp.port import Decision, JSONObject, PDPUnavailable

RESIDENT_ID = "11010519491231002X"  # a valid check digit
PHONE_BOOK = [f"138{n:08d}" for n in range(10_000_000, 10_000_150)]  # distinct mobiles
INSPECTOR = default_inspector()  # built once: loading the catalog is not free


# --- stand-in policy -----------------------------------------------------------------

def default_rules(doc: JSONObject) -> dict[str, Any]:
    subject: dict[str, Any] = doc["subject"]  # type: ignore[assignment]
    device: dict[str, Any] = doc["device"]  # type: ignore[assignment]
    resource: dict[str, Any] = doc["resource"]  # type: ignore[assignment]
    if device["trust"] == "quarantined":
        return {"allow": False, "reasons": ["device-quarantined"]}
    if not subject["authenticated"] and resource["zone"] != "open":
        return {"allow": False, "reasons": ["unauthenticated"]}
    if resource["zone"] == "health" and "doctor" not in subject["roles"]:
        return {"allow": False, "reasons": ["zone-not-permitted"]}
    return {"allow": True, "reasons": [], "obligations": {"max_level": subject["clearance"]}}


@dataclass
class ScriptedPolicy:
    """PolicyEngine port over a Python function; `down` makes it unavailable."""

    rules: Callable[[JSONObject], Any] = default_rules
    down: bool = False
    seen: list[JSONObject] = field(default_factory=list)

    @property
    def revision(self) -> str:
        return "scripted-1"

    async def evaluate(self, input_doc: JSONObject) -> Decision:
        self.seen.append(input_doc)
        if self.down:
            raise PDPUnavailable("the test took the PDP down")
        return Decision.from_result(self.rules(input_doc))

    async def close(self) -> None:
        return None


# --- upstream ------------------------------------------------------------------------

@dataclass
class Upstream:
    url: str = ""
    seen: list[dict[str, Any]] = field(default_factory=list)
    hang: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        body = await request.read()
        raw = request.raw_path
        self.seen.append({"method": request.method, "raw_path": raw,
                          "headers": [(k.decode(), v.decode()) for k, v in request.raw_headers],
                          "body": body})
        name = raw.partition("?")[0].rsplit("/", 1)[-1]
        record = {"id": name, "name": "张三", "resident_id": RESIDENT_ID, "note": "ok"}
        if name == "hang":
            await self.hang.wait()
        if name == "reset-before-headers":
            assert request.transport is not None
            request.transport.abort()
            return web.Response()
        if name == "reset-mid-body":
            resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
            resp.content_length = 100_000
            await resp.prepare(request)
            await resp.write(b"x" * 1000)  # write() drains
            assert request.transport is not None
            request.transport.abort()
            return resp
        if name == "endless":
            resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
            await resp.prepare(request)
            chunk = b"z" * 65536
            for _ in range(4096):  # 256 MiB unless the reader gives up first
                await resp.write(chunk)
            await resp.write_eof()
            return resp
        if name == "blob":
            return web.Response(body=RESIDENT_ID.encode() * 10,
                                content_type="application/octet-stream")
        if name == "text":
            return web.Response(text=f"patient {RESIDENT_ID} seen", content_type="text/plain")
        if name == "xml":
            return web.Response(text=f"<patient><id>{RESIDENT_ID}</id></patient>",
                                content_type="application/xml")
        if name in ("untyped", "untyped-binary"):
            # no Content-Type at all, which aiohttp itself never sends: written raw
            payload = (f"patient {RESIDENT_ID} seen".encode() if name == "untyped"
                       else b"\xff\xfe" + RESIDENT_ID.encode())
            assert request.transport is not None
            request.transport.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n"
                                    b"Content-Length: %d\r\n\r\n" % len(payload) + payload)
            request.transport.close()
            return web.Response()
        if name == "not-json":
            return web.Response(text=f"id={RESIDENT_ID}", content_type="application/json")
        if name == "big":
            return web.json_response([record] * 200)
        if name == "phone-book":
            # 150 people's numbers (L3 each, L4 by volume) and one resident ID (L4)
            return web.json_response({"owner": RESIDENT_ID, "phones": PHONE_BOOK})
        if name == "big-chunked":
            resp = web.StreamResponse(headers={"Content-Type": "application/json"})
            await resp.prepare(request)
            await resp.write(json.dumps([record] * 200).encode())
            await resp.write_eof()
            return resp
        if name == "gzip":
            return web.Response(body=gzip.compress(json.dumps(record).encode()),
                                headers={"Content-Type": "application/json",
                                         "Content-Encoding": "gzip"})
        if "/records/" in raw:
            return web.json_response(record)
        return web.json_response({"method": request.method, "raw_path": raw,
                                  "body": body.decode("utf-8", "replace")})


@dataclass
class Harness:
    url: str
    port: int
    gateway: IngressGateway
    listener: Listener
    idp: DevIdP
    upstream: Upstream
    policy: ScriptedPolicy
    audit_path: Path
    options: GatewayRuntimeOptions
    client: aiohttp.ClientSession

    def token(self, user: str = "doctor", **claims: object) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.idp.mint(user=user, **claims)}"}

    def audit_events(self) -> list[dict[str, Any]]:
        lines = self.audit_path.read_bytes().splitlines()
        return [json.loads(line)["event"] for line in lines
                if json.loads(line)["kind"] == "request"]

    async def settled_events(self, count: int = 1, limit: float = 30) -> list[dict[str, Any]]:
        """The request events once there are `count`: a response cut mid-body reaches the
        client before the gateway finishes (and audits) the request."""
        async with asyncio.timeout(limit):
            while True:  # polls a file: there is no event to wait on
                events = self.audit_events()
                if len(events) >= count:
                    return events
                await asyncio.sleep(0.02)


def gateway_config(issuer: str, jwks_uri: str, upstream: str, extra: str = "") -> GatewayConfig:
    return parse_config(f"""
trust_domain: city.example
identity:
  oidc:
    - issuer: {issuer}
      audience: zonegate
      jwks_uri: {jwks_uri}
zones:
  - {{name: health, prefix: /zones/health/, upstream: "{upstream}", level: L4}}
  - {{name: transport, prefix: /zones/transport/, upstream: "{upstream}", level: L2}}
  - {{name: open, prefix: /zones/open/, upstream: "{upstream}", level: L1}}
{extra}""")


TEST_OPTIONS = dict(dlp_max_bytes=4096, max_body_bytes=2048, max_header_bytes=4096,
                    max_headers=40, keepalive_timeout=2.0, body_timeout=1.0,
                    send_timeout=2.0, pdp_timeout=1.0, upstream_connect_timeout=1.0,
                    upstream_timeout=1.0, upstream_read_timeout=1.0)


async def start_upstream() -> tuple[Upstream, web.ServerRunner]:
    upstream = Upstream()
    runner = web.ServerRunner(web.Server(upstream.handle), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    upstream.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    return upstream, runner


@pytest.fixture
async def harness_factory(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    cleanups: list[Callable[[], Any]] = []

    async def make(*, config_extra: str = "", certificates: Path | None = None,
                   client_ssl: ssl.SSLContext | None = None,
                   decision_index: DecisionIndexWriter | None = None,
                   metrics: GatewayMetrics | None = None, **overrides: Any) -> Harness:
        idp_cm = DevIdP.start(demo_config(), "127.0.0.1", 0)
        idp = await idp_cm.__aenter__()
        cleanups.append(lambda: idp_cm.__aexit__(None, None, None))
        upstream, up_runner = await start_upstream()
        cleanups.append(up_runner.cleanup)
        cleanups.append(lambda: _release(upstream))
        config = resolve_paths(gateway_config(idp.issuer, idp.jwks_uri, upstream.url,
                                              config_extra), tmp_path)
        options = GatewayRuntimeOptions(**{**TEST_OPTIONS, "audit_log": tmp_path / "audit.jsonl",
                                           **overrides})
        auth = build_authenticator(config, certificates)
        cleanups.append(auth.close)
        policy = ScriptedPolicy()
        metrics = metrics or GatewayMetrics()
        audit = AuditLog.open(options.audit_log)
        cleanups.append(lambda: asyncio.to_thread(audit.close))
        gateway = build_gateway(config, options, authenticator=auth, engine=policy,
                                inspector=INSPECTOR, audit=audit,
                                metrics=metrics, decision_index=decision_index)
        cleanups.append(gateway.close)
        server_ssl = server_context(config.tls) if config.tls is not None else None
        listener = await start_listener(gateway, "127.0.0.1", 0, ssl_context=server_ssl)
        cleanups.append(listener.stop)
        client = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=client_ssl) if client_ssl else None)
        cleanups.append(client.close)
        scheme = "https" if server_ssl is not None else "http"
        return Harness(url=f"{scheme}://127.0.0.1:{listener.port}", port=listener.port,
                       gateway=gateway, listener=listener, idp=idp, upstream=upstream,
                       policy=policy, audit_path=options.audit_log, options=options,
                       client=client)

    yield make
    for cleanup in reversed(cleanups):
        await cleanup()


async def _release(upstream: Upstream) -> None:
    upstream.hang.set()


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    """A recording upstream on loopback (for tests that start real gateway processes)."""
    up, runner = await start_upstream()
    yield up
    await runner.cleanup()


@pytest.fixture
async def idp() -> AsyncIterator[DevIdP]:
    """The dev IdP with the demo users, over real HTTP on loopback."""
    async with DevIdP.start(demo_config(), "127.0.0.1", 0) as running:
        yield running


@pytest.fixture
async def gw(harness_factory: Callable[..., Any]) -> Harness:
    harness: Harness = await harness_factory()
    return harness


async def raw_http(port: int, data: bytes, *, limit: float = 10.0) -> bytes:
    """Send exact bytes and read until the server closes (limit bounds a hang)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), limit)
    finally:
        writer.close()


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])
