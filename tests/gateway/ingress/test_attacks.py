"""Attacks on the data plane, with the exact bytes on the wire (raw sockets)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.gateway.ingress.conftest import Harness, raw_http, status_of


def _request(harness: Harness, target: str, *headers: str, body: bytes = b"",
             auth: bool = True) -> bytes:
    lines = [f"GET {target} HTTP/1.1", "Host: gw", "Connection: close", *headers]
    if auth:
        lines.append(f"Authorization: {harness.token()['Authorization']}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def test_forged_gateway_headers_never_reach_upstream(gw: Harness) -> None:
    forged = ["X-Zonegate-Assertion: eyJhbGciOiJub25lIn0.e30.", "x-zonegate-ASSERTION: again",
              "X-Zonegate-Decision-Id: forged", "X-Forwarded-Client-Cert: By=spiffe://x;Hash=1",
              "X-Forwarded-For: 10.9.9.9", "Forwarded: for=10.9.9.9",
              "Connection: close, X-Private", "X-Private: hop", "Keep-Alive: 1",
              "Proxy-Authorization: Basic eDp5", "TE: trailers"]
    response = await raw_http(gw.port, _request(gw, "/zones/transport/x", *forged))
    assert status_of(response) == 200
    headers = gw.upstream.seen[-1]["headers"]
    names = [k.lower() for k, _ in headers]
    values = dict((k.lower(), v) for k, v in headers)
    assert names.count("x-zonegate-assertion") == 1
    assert values["x-zonegate-assertion"].count(".") == 2
    assert not values["x-zonegate-assertion"].startswith("eyJhbGciOiJub25l")
    assert values["x-zonegate-decision-id"] != "forged"
    for gone in ("x-forwarded-client-cert", "x-private", "keep-alive", "proxy-authorization",
                 "te", "forwarded"):
        assert gone not in names
    assert values["x-forwarded-for"] == "127.0.0.1"


IDENTITY_CLAIMS = [
    "X-Forwarded-User: admin", "X-Forwarded-Email: root@city.example",
    "X-Forwarded-Groups: security-officer", "X-Auth-Request-User: admin",
    "X-Auth-Request-Email: root@city.example", "Remote-User: admin", "X-Remote-User: admin",
    "X-Remote-Group: system:masters", "X-User-Id: 1", "X-SSL-Client-Cert: forged",
    "X-Client-Cert: forged", "X-Original-URL: /zones/health/records/1",
    "X-Rewrite-URL: /zones/health/records/1", "X-HTTP-Method-Override: DELETE",
    "X-Real-IP: 10.9.9.9", "True-Client-IP: 10.9.9.9", "CF-Connecting-IP: 10.9.9.9",
    "X-Amzn-Oidc-Identity: admin", "X-Goog-Authenticated-User-Email: accounts.google.com:x",
    "Cf-Access-Jwt-Assertion: forged", "X-MS-Client-Principal-Name: admin",
    "X-Pomerium-Jwt-Assertion: forged",
]


async def test_client_identity_claims_never_reach_upstream(gw: Harness) -> None:
    response = await raw_http(gw.port, _request(gw, "/zones/transport/x", *IDENTITY_CLAIMS,
                                                 "X-Request-Tag: kept"))
    assert status_of(response) == 200
    names = {k.lower() for k, _ in gw.upstream.seen[-1]["headers"]}
    leaked = {line.split(":", 1)[0].lower() for line in IDENTITY_CLAIMS} & names
    assert not leaked
    assert "x-request-tag" in names  # ordinary application headers still pass


async def test_xfcc_from_untrusted_peer_is_not_believed(gw: Harness) -> None:
    xfcc = "X-Forwarded-Client-Cert: By=spiffe://city.example/gw;URI=spiffe://city.example/x"
    response = await raw_http(gw.port, _request(gw, "/zones/health/records/1", xfcc,
                                                 auth=False))
    assert status_of(response) == 401  # still anonymous: the header was ignored
    assert gw.policy.seen[-1]["subject"]["authenticated"] is False  # type: ignore[index]


PATH_TRICKS = [
    ("/zones/healthx", 404), ("/zones/health/../transport/x", 400),
    ("/zones/health/%2e%2e/transport/x", 400), ("/zones/health/..%2Ftransport/x", 400),
    ("/zones/health/..\\transport/x", 400), ("/zones/health/x%00.json", 400),
    ("/zones/health/%252e%252e/transport", 400), ("/zones/health/%C0%AE%C0%AE/x", 400),
    ("/zones/health/..;/transport/x", 400), ("/zones/health/%0d%0aSet-Cookie:x", 400),
    ("/zones/../../etc/passwd", 400), ("/metrics/../zones/health/x", 400),
]


@pytest.mark.parametrize(("target", "status"), PATH_TRICKS)
async def test_path_tricks(gw: Harness, target: str, status: int) -> None:
    response = await raw_http(gw.port, _request(gw, target))
    assert status_of(response) == status, response[:200]
    assert b"Traceback" not in response
    assert gw.upstream.seen == []
    assert gw.policy.seen == []


@pytest.mark.parametrize(("headers", "status"), [
    ([f"X-Filler-{i}: x" for i in range(60)], 431),  # count over max_headers (40)
    (["X-Big: " + "a" * 5000], 431),  # bytes over max_header_bytes (4096)
    (["X-Huge: " + "a" * 40000], 400),  # over aiohttp's hard field limit
])
async def test_oversized_headers(gw: Harness, headers: list[str], status: int) -> None:
    response = await raw_http(gw.port, _request(gw, "/zones/transport/x", *headers))
    assert status_of(response) == status
    assert gw.upstream.seen == []


async def test_two_authorization_headers_refused(gw: Harness) -> None:
    response = await raw_http(gw.port, _request(gw, "/zones/transport/x",
                                                "Authorization: Bearer other"))
    assert status_of(response) == 400


@pytest.mark.parametrize(("headers", "body"), [
    (["Content-Length: 5000"], b"x" * 5000),
    (["Transfer-Encoding: chunked"], b"".join([b"400\r\n" + b"x" * 1024 + b"\r\n"] * 3)
     + b"0\r\n\r\n"),
])
async def test_oversized_body_is_413(gw: Harness, headers: list[str], body: bytes) -> None:
    response = await raw_http(gw.port, _request(gw, "/zones/transport/x", *headers,
                                                body=body))
    assert status_of(response) == 413
    assert gw.upstream.seen == []


async def test_request_smuggling_shape_refused(gw: Harness) -> None:
    response = await raw_http(gw.port, _request(
        gw, "/zones/transport/x", "Content-Length: 4", "Transfer-Encoding: chunked",
        body=b"0\r\n\r\nGET /zones/health/records/1 HTTP/1.1\r\nHost: gw\r\n\r\n"))
    assert status_of(response) == 400
    assert gw.upstream.seen == []


async def test_slow_headers_are_cut_off(gw: Harness) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(b"GET /zones/transport/x HTTP/1.1\r\nHost: gw\r\nX-Slow: ")
    await writer.drain()
    # keepalive_timeout (2 s in these tests) closes a connection without a full request;
    # wait_for only bounds a hang so the test fails instead of blocking
    data = await asyncio.wait_for(reader.read(), 15)
    writer.close()
    assert data == b""
    assert gw.upstream.seen == []


async def test_slow_body_gets_408(gw: Harness) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(_request(gw, "/zones/transport/x", "Content-Length: 100", body=b"x" * 10))
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 15)
    writer.close()
    assert status_of(data) == 408
    assert gw.upstream.seen == []


async def test_hanging_upstream_is_504(gw: Harness) -> None:
    async with gw.client.get(f"{gw.url}/zones/transport/hang", headers=gw.token()) as resp:
        assert resp.status == 504
    assert gw.audit_events()[-1]["outcome"] == "upstream-504"


async def test_upstream_reset_before_headers_is_502(gw: Harness) -> None:
    async with gw.client.get(f"{gw.url}/zones/transport/reset-before-headers",
                             headers=gw.token()) as resp:
        assert resp.status == 502


async def test_upstream_reset_mid_body_cuts_the_stream(gw: Harness) -> None:
    async with gw.client.get(f"{gw.url}/zones/transport/reset-mid-body",
                             headers=gw.token()) as resp:
        assert resp.status == 200
        assert resp.content_length == 100_000
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    events = await gw.settled_events()
    assert events[-1]["outcome"] == "upstream-cut" and events[-1]["bytes"] < 100_000


async def test_unreachable_upstream_is_502(harness_factory: Any) -> None:
    gw: Harness = await harness_factory()
    # a port nobody listens on: bind, learn the port, close
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    from yarl import URL

    from gateway.ingress.routing import ZoneRoute, ZoneTable

    gw.gateway.zones = ZoneTable([ZoneRoute("transport", "/zones/transport/",
                                            URL(f"http://127.0.0.1:{port}"), "L2")])
    async with gw.client.get(f"{gw.url}/zones/transport/x", headers=gw.token()) as resp:
        assert resp.status == 502
        assert (await resp.json())["error"] == "bad_gateway"


async def test_unexpected_error_is_generic_500(gw: Harness) -> None:
    class Exploding:
        def inspect(self, body: bytes, content_type: str, ceiling: str) -> Any:
            raise RuntimeError("internal detail /etc/zonegate/key.pem")

    gw.gateway.inspector = Exploding()
    async with gw.client.get(f"{gw.url}/zones/health/records/7", headers=gw.token()) as resp:
        assert resp.status == 500
        text = await resp.text()
    assert text == '{"error": "internal_error"}'
    event = gw.audit_events()[-1]
    assert (event["status"], event["outcome"]) == (500, "internal-error")


async def test_quarantined_device_is_denied(harness_factory: Any, tmp_path: Any) -> None:
    import json

    quarantine = tmp_path / "quarantine.json"
    quarantine.write_text(json.dumps({"version": 1, "devices": [{
        "device_id": "cam-7", "mac": None, "ips": ["127.0.0.1"], "reason": "port scan",
        "rule_id": "port_scan_horizontal", "since": "2026-01-01T00:00:00Z", "until": None,
        "source": "monitor"}]}))
    gw: Harness = await harness_factory(quarantine_file=quarantine)
    async with gw.client.get(f"{gw.url}/zones/transport/x", headers=gw.token()) as resp:
        assert resp.status == 403
        assert (await resp.json())["reasons"] == ["device-quarantined"]
    assert gw.policy.seen[-1]["device"]["trust"] == "quarantined"  # type: ignore[index]
    assert gw.policy.seen[-1]["context"]["risk"] == 100  # type: ignore[index]
    # a corrupt quarantine file fails closed
    quarantine.write_text("{not json")
    async with gw.client.get(f"{gw.url}/zones/transport/x", headers=gw.token()) as resp:
        assert resp.status == 503
        assert (await resp.json())["reasons"] == ["device-trust-unavailable"]
    # the monitor lifts the quarantine
    quarantine.write_text(json.dumps({"version": 1, "devices": []}))
    async with gw.client.get(f"{gw.url}/zones/transport/x", headers=gw.token()) as resp:
        assert resp.status == 200


async def test_client_that_stops_reading_is_cut_off(gw: Harness) -> None:
    import socket

    recorded = asyncio.Event()
    events: list[dict[str, Any]] = []
    real_append = gw.gateway.audit.append

    async def spy(kind: str, event: dict[str, Any]) -> int:
        seq = await real_append(kind, event)
        events.append(event)
        if event["outcome"] == "client-cut":
            recorded.set()
        return seq

    gw.gateway.audit.append = spy  # type: ignore[method-assign]
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", gw.port))
    await loop.sock_sendall(sock, _request(gw, "/zones/transport/endless"))
    try:
        # never read: the gateway's send timeout (2 s here) must give up on us
        await asyncio.wait_for(recorded.wait(), 30)
    finally:
        sock.close()
    event = next(e for e in events if e["outcome"] == "client-cut")
    assert 0 < event["bytes"] < 256 << 20


async def test_broken_audit_log_fails_closed(gw: Harness) -> None:
    await asyncio.to_thread(gw.gateway.audit.close)
    async with gw.client.get(f"{gw.url}/zones/transport/x", headers=gw.token()) as resp:
        assert resp.status == 503
        assert (await resp.json())["reasons"] == ["audit-unavailable"]
    async with gw.client.get(f"{gw.url}/readyz") as resp:
        assert resp.status == 503
        assert "audit-unavailable" in (await resp.json())["reasons"]
    assert gw.upstream.seen == []
