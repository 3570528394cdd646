"""The upstream hop: send the request, then relay, inspect or refuse the response.

Response bodies are never buffered without bound: JSON and text up to `dlp_max_bytes`
are read whole to be classified; anything else, and permitted over-size bodies, stream
chunk by chunk. Once the first byte has gone to the client a failing upstream can only
cut the stream (the client sees a short body), never make the gateway hang.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from gateway.ingress import core
from gateway.ingress.dlp import Inspection, ResponseInspector, Uninspectable
from gateway.ingress.headers import downstream_response_headers
from gateway.ingress.options import GatewayRuntimeOptions
from gateway.ingress.routing import ZoneRoute

_CHUNK = 64 << 10
_INLINE_INSPECT = 64 << 10  # larger bodies are classified off the event loop


class UpstreamFailed(Exception):
    """The upstream did not answer usably before the response started (502/504)."""

    def __init__(self, status: int, kind: str) -> None:
        super().__init__(kind)
        self.status = status
        self.kind = kind


@dataclass(slots=True)
class Relayed:
    """What happened to the response, for the audit record."""

    status: int
    bytes_sent: int = 0
    response_level: str | None = None
    dlp: str = "none"
    cut: str = ""  # "upstream" or "client": who failed mid-body; the body was cut short


def upstream_url(zone: ZoneRoute, wire_path: str, raw_query: str) -> URL:
    """The upstream URL: its origin and base path, then exactly the normalised path."""
    base = zone.upstream.raw_path.rstrip("/")
    target = base + wire_path + (f"?{raw_query}" if raw_query else "")
    return URL(str(zone.upstream.origin()) + target, encoded=True)


async def open_upstream(session: aiohttp.ClientSession, method: str, url: URL,
                        headers: list[tuple[str, str]], body: bytes | None,
                        options: GatewayRuntimeOptions) -> aiohttp.ClientResponse:
    """Send the request; return the response with its headers read, or UpstreamFailed."""
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=options.upstream_connect_timeout,
                                    sock_read=options.upstream_read_timeout)
    try:
        async with asyncio.timeout(options.upstream_timeout):
            return await session.request(method, url, headers=CIMultiDict(headers), data=body,
                                         allow_redirects=False, timeout=timeout)
    except (TimeoutError, aiohttp.ServerTimeoutError):
        raise UpstreamFailed(504, "timeout") from None
    except aiohttp.ClientConnectorError:
        raise UpstreamFailed(502, "connect") from None
    except (aiohttp.ClientError, OSError):
        raise UpstreamFailed(502, "protocol") from None


async def _read_bounded(up: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """Read at most limit+1 bytes; (data, complete)."""
    parts: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await up.content.read(min(_CHUNK, limit + 1 - size))
        if not chunk:
            return b"".join(parts), True
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts), False


class ClientStalled(Exception):
    """The client did not take a chunk within the send timeout."""


async def _write(resp: web.StreamResponse, data: bytes, seconds: float) -> None:
    try:
        async with asyncio.timeout(seconds):
            await resp.write(data)
    except TimeoutError:
        raise ClientStalled from None


async def _inspect(inspector: ResponseInspector, body: bytes, content_type: str,
                   ceiling: str) -> Inspection:
    if len(body) <= _INLINE_INSPECT:
        return inspector.inspect(body, content_type, ceiling)
    return await asyncio.to_thread(inspector.inspect, body, content_type, ceiling)


async def relay(request: web.BaseRequest, up: aiohttp.ClientResponse, *, zone: ZoneRoute,
                ceiling: str, decision_id: str, inspector: ResponseInspector,
                options: GatewayRuntimeOptions) -> tuple[web.StreamResponse, Relayed]:
    """Relay the upstream response under the DLP rules.

    A streamed response has been sent when this returns; a buffered one (inspected or
    refused) is returned unprepared so the caller can audit before releasing it.
    """
    raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in up.raw_headers]
    content_type = up.headers.get("Content-Type", "")
    encoding = up.headers.get("Content-Encoding", "")
    no_body = request.method == "HEAD" or up.status in (204, 304) or up.status < 200
    plan: core.ResponsePlan = "stream" if no_body else core.plan_response(
        content_type=content_type, content_encoding=encoding,
        content_length=up.content_length, max_inspect=options.dlp_max_bytes,
        zone_level=zone.level, ceiling=ceiling)
    prefix = b""
    if plan == "inspect":
        try:
            prefix, complete = await _read_bounded(up, options.dlp_max_bytes)
        except (TimeoutError, aiohttp.ClientError, OSError):
            raise UpstreamFailed(502, "read") from None
        if complete:
            return await _send_inspected(up, raw, prefix, zone=zone, ceiling=ceiling,
                                         decision_id=decision_id, inspector=inspector,
                                         options=options)
        plan = core.uninspectable(zone.level, ceiling)
    if plan == "refuse":
        return _refused(core.response_blocked("response-uninspectable", decision_id),
                        dlp="refused")
    return await _stream(request, up, raw, prefix, options)


async def _send_inspected(up: aiohttp.ClientResponse,
                          raw: list[tuple[str, str]], body: bytes, *, zone: ZoneRoute,
                          ceiling: str, decision_id: str, inspector: ResponseInspector,
                          options: GatewayRuntimeOptions) -> tuple[web.StreamResponse, Relayed]:
    content_type = up.headers.get("Content-Type", "")
    try:
        found = await _inspect(inspector, body, content_type, ceiling)
    except Uninspectable:
        if core.uninspectable(zone.level, ceiling) == "refuse":
            return _refused(core.response_blocked("response-uninspectable", decision_id),
                            dlp="refused")
        found = Inspection(level=zone.level, masked_body=None)
    action = core.dlp_action(found.level, ceiling, zone.dlp_mode)
    if action == "block" or (action == "mask" and not core.masking_suffices(
            found.masked_body is not None, found.residual_level, ceiling)):
        # above the ceiling, and masking left nothing or not enough: never release it
        resp, info = _refused(core.response_blocked("response-above-clearance", decision_id),
                              dlp="blocked")
        info.response_level = found.level
        return resp, info
    out = found.masked_body if action == "mask" and found.masked_body is not None else body
    # not sent here: the shell makes the audit record durable first, then sends
    resp = web.Response(status=up.status, reason=up.reason, body=out,
                        headers=CIMultiDict(downstream_response_headers(
                            raw, rewritten=action == "mask")))
    return resp, Relayed(status=up.status, bytes_sent=len(out), response_level=found.level,
                         dlp="masked" if action == "mask" else "passed")


def _refused(verdict: core.Respond, *, dlp: str) -> tuple[web.StreamResponse, Relayed]:
    body = verdict.body_bytes()
    return verdict_response(verdict), Relayed(status=verdict.status, bytes_sent=len(body),
                                              dlp=dlp)


def verdict_response(verdict: core.Respond) -> web.Response:
    """The (not yet sent) response for a fixed verdict."""
    return web.Response(status=verdict.status, body=verdict.body_bytes(),
                        content_type="application/json", headers=CIMultiDict(verdict.headers))


async def _stream(request: web.BaseRequest, up: aiohttp.ClientResponse,
                  raw: list[tuple[str, str]], prefix: bytes,
                  options: GatewayRuntimeOptions) -> tuple[web.StreamResponse, Relayed]:
    resp = web.StreamResponse(status=up.status, reason=up.reason,
                              headers=CIMultiDict(downstream_response_headers(
                                  raw, rewritten=False)))
    if up.content_length is not None and "Transfer-Encoding" not in up.headers:
        resp.content_length = up.content_length
    info = Relayed(status=up.status, dlp="streamed")
    try:
        await resp.prepare(request)
        if prefix:
            await _write(resp, prefix, options.send_timeout)
            info.bytes_sent += len(prefix)
        while True:
            chunk = await up.content.readany()
            if not chunk:
                break
            await _write(resp, chunk, options.send_timeout)
            info.bytes_sent += len(chunk)
        await resp.write_eof()
    except (ClientStalled, TimeoutError, aiohttp.ClientError, OSError) as exc:
        # the client has our status line already: cut the connection so it sees a
        # short body instead of a complete-looking one (or, stalled, stops holding us)
        info.cut = "client" if isinstance(exc, ClientStalled | ConnectionResetError) \
            else "upstream"
        if request.transport is not None:
            request.transport.abort()
    return resp, info
