"""The ingress data plane's I/O shell: aiohttp in, PEP core, aiohttp out.

The low-level `aiohttp.web.Server` is used on purpose: aiohttp's router matches on its own
decoded `request.path`, and the gateway must decide on exactly one normalisation of the
raw request target (paths.py). Every request goes through `handle`, whose catch-all logs
an unexpected error and answers a generic 500: no stack trace reaches a client.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime

import aiohttp
from aiohttp import web
from yarl import URL

from gateway.audit import AuditLog, AuditWriteError
from gateway.identity.errors import InvalidCredentials
from gateway.identity.types import Authenticated, Authenticator, Presented
from gateway.ingress import core
from gateway.ingress.assertion import AssertionSigner
from gateway.ingress.decision_index import DecisionIndexWriter, PendingDecision
from gateway.ingress.devices import DeviceTrustSource
from gateway.ingress.dlp import ResponseInspector
from gateway.ingress.errors import DeviceTrustUnavailable, RequestRejected
from gateway.ingress.headers import upstream_request_headers
from gateway.ingress.instruments import BoundLabels
from gateway.ingress.options import GatewayRuntimeOptions
from gateway.ingress.paths import normalise_target
from gateway.ingress.ratelimit import RateLimiter
from gateway.ingress.routing import RESERVED_PREFIX, ZoneRoute, ZoneTable
from gateway.ingress.segments import SegmentMap
from gateway.ingress.trail import RequestTrail
from gateway.ingress.upstream import (
    Relayed,
    UpstreamFailed,
    open_upstream,
    relay,
    upstream_url,
    verdict_response,
)
from gateway.metrics import GatewayMetrics
from gateway.netset import NetworkSet
from gateway.pdp.port import Decision, JSONObject, PDPUnavailable, PolicyEngine, readiness

_log = logging.getLogger("zonegate.ingress")
JWKS_PATH = RESERVED_PREFIX + "jwks.json"
_PEER_MEMO = 4096  # peers whose trusted-proxy verdict is remembered (then start afresh)


class IngressGateway:
    """One data-plane instance: its collaborators and its request handler."""

    def __init__(self, *, zones: ZoneTable, authenticator: Authenticator,
                 engine: PolicyEngine | None, devices: DeviceTrustSource,
                 inspector: ResponseInspector, signer: AssertionSigner, audit: AuditLog,
                 metrics: GatewayMetrics, options: GatewayRuntimeOptions,
                 trusted_proxies: tuple[str, ...] = (), tls: bool = False,
                 decision_index: DecisionIndexWriter | None = None,
                 metrics_from: tuple[str, ...] | None = None) -> None:
        self.zones = zones
        self.authenticator = authenticator
        self.engine = engine
        self.devices = devices
        self.inspector = inspector
        self.signer = signer
        self.audit = audit
        self.metrics = metrics
        self.options = options
        self.decision_index = decision_index  # the store's index; None: not kept
        self.limiter = RateLimiter(max_keys=options.rate_limit_keys,
                                   burst_seconds=options.rate_limit_burst_seconds)
        self.segments = SegmentMap(options.segments)
        self._trusted = NetworkSet(trusted_proxies)
        self._trusted_peers: dict[str, bool] = {}
        # None: /metrics for anyone who reaches the listener (ingress.metrics_from)
        self._metrics_from = None if metrics_from is None else NetworkSet(metrics_from)
        # per-request metrics, their children bound once (see instruments.py)
        self._requests = BoundLabels(metrics.requests)
        self._request_seconds = BoundLabels(metrics.request_seconds)
        self._decisions = BoundLabels(metrics.decisions)
        self._upstream_seconds = BoundLabels(metrics.upstream_seconds)
        self._upstream_errors = BoundLabels(metrics.upstream_errors)
        self._dlp = BoundLabels(metrics.dlp)
        self._proto = "https" if tls else "http"
        self._session: aiohttp.ClientSession | None = None
        metrics.policy_ready.set(1 if engine is not None else 0)

    # lifecycle -----------------------------------------------------------------------

    def set_engine(self, engine: PolicyEngine | None) -> None:
        """Swap the policy engine in force (None: not ready, every request 503)."""
        self.engine = engine
        self.metrics.policy_ready.set(1 if engine is not None else 0)

    def session(self) -> aiohttp.ClientSession:
        """The shared upstream client (no cookie jar: clients never share cookies)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.options.upstream_connections,
                                             ttl_dns_cache=60)
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False, skip_auto_headers=("User-Agent", "Accept"))
        return self._session

    def web_server(self) -> web.Server:
        """The aiohttp low-level server running `handle`, with the request limits."""
        return web.Server(self.handle, keepalive_timeout=self.options.keepalive_timeout,
                          max_line_size=16384, max_field_size=32768, max_headers=256,
                          auto_decompress=False)

    async def close(self) -> None:
        """Close the upstream client (the audit log and engine belong to the caller)."""
        if self._session is not None:
            await self._session.close()

    # request handling ----------------------------------------------------------------

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer one request; never lets an exception or stack trace reach the client."""
        try:
            return await self._dispatch(request)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.metrics.internal_errors.inc()
            _log.exception("unhandled error", extra={"path": request.raw_path[:200]})
            return web.json_response({"error": "internal_error"}, status=500)

    async def _dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        raw_path = request.raw_path.partition("?")[0]
        if raw_path == "/healthz":
            return web.json_response({"status": "ok"})
        if raw_path == "/readyz":
            return await self._readyz()
        if raw_path == "/metrics":
            if not self._may_read_metrics(request.remote or ""):
                return web.json_response({"error": "not_found"}, status=404)
            return web.Response(body=self.metrics.render(),
                                headers={"Content-Type": self.metrics.content_type})
        if raw_path == JWKS_PATH:
            return web.json_response(self.signer.jwks(),
                                     headers={"Cache-Control": "max-age=300"})
        if raw_path.startswith(RESERVED_PREFIX):
            return web.json_response({"error": "not_found"}, status=404)
        return await self._proxy(request)

    async def _readyz(self) -> web.Response:
        problems = []
        body: dict[str, object] = {}
        if self.engine is None:
            problems.append("no-active-policy")
        else:
            # a remote PDP (OPA) that is down or has no bundle cannot decide anything
            pdp_problem = await readiness(self.engine)
            if pdp_problem is not None:
                problems.append("pdp-unavailable")
                body["pdp"] = pdp_problem
        if not self.audit.healthy:
            problems.append("audit-unavailable")
        status = getattr(self.devices, "status", None)
        if callable(status):
            # the store's quarantine snapshot: a stale one is still enforced (ready, and
            # said so); none at all means every request would get 503
            trust = status()
            body["device_trust"] = trust
            if not trust.get("loaded"):
                problems.append("device-trust-unavailable")
        if problems:
            return web.json_response({"ready": False, "reasons": problems, **body}, status=503)
        return web.json_response({"ready": True, "policy_revision": self.engine.revision
                                  if self.engine is not None else "", **body})

    def _may_read_metrics(self, peer: str) -> bool:
        return self._metrics_from is None or peer in self._metrics_from

    def _from_trusted_proxy(self, peer: str) -> bool:
        if not self._trusted:
            return False
        known = self._trusted_peers.get(peer)
        if known is not None:
            return known
        trusted = peer in self._trusted
        if len(self._trusted_peers) >= _PEER_MEMO:
            self._trusted_peers.clear()
        self._trusted_peers[peer] = trusted
        return trusted

    def _header_limits(self, request: web.BaseRequest) -> None:
        raw = request.raw_headers
        if len(raw) > self.options.max_headers:
            raise RequestRejected(f"more than {self.options.max_headers} header fields", 431)
        if sum(len(k) + len(v) for k, v in raw) > self.options.max_header_bytes:
            raise RequestRejected(
                f"header fields exceed {self.options.max_header_bytes} bytes", 431)
        if len(request.headers.getall("Authorization", [])) > 1:
            raise RequestRejected("more than one Authorization header")

    async def _proxy(self, request: web.BaseRequest) -> web.StreamResponse:
        started = time.perf_counter()
        trail = RequestTrail(request_id=uuid.uuid4().hex, method=request.method,
                             path=request.raw_path[:512])
        resp: web.StreamResponse
        try:
            resp = await self._enforce_and_forward(request, trail)
        except Exception:
            # a bug must not cost the audit record: log it, record it, answer 500
            self.metrics.internal_errors.inc()
            _log.exception("unhandled error", extra={"request_id": trail.request_id})
            trail.status, trail.outcome = 500, "internal-error"
            resp = web.json_response({"error": "internal_error"}, status=500)
        elapsed = time.perf_counter() - started
        self._request_seconds(trail.zone or "-").observe(elapsed)
        self._requests(trail.zone or "-", str(trail.status)).inc()
        await self._audit(trail, elapsed)
        if not resp.prepared:
            # buffered answers leave only once their audit record is durable
            await self._send(request, resp)
        return resp

    async def _send(self, request: web.BaseRequest, resp: web.StreamResponse) -> None:
        try:
            async with asyncio.timeout(self.options.send_timeout):
                await resp.prepare(request)
                await resp.write_eof()
        except (TimeoutError, OSError):
            # the client stalled or went away; the audit record is already durable
            if request.transport is not None:
                request.transport.abort()

    async def _reply(self, request: web.BaseRequest, trail: RequestTrail,
                     verdict: core.Respond) -> web.StreamResponse:
        trail.status, trail.outcome = verdict.status, verdict.outcome
        trail.bytes_sent = len(verdict.body_bytes())
        return verdict_response(verdict)

    async def _enforce_and_forward(self, request: web.BaseRequest,
                                   trail: RequestTrail) -> web.StreamResponse:
        rid = trail.request_id
        try:
            self._header_limits(request)
            target = normalise_target(request.raw_path)
            trail.path = target.path
            match = self.zones.match(target)
        except RequestRejected as exc:
            return await self._reply(request, trail, core.rejected(exc.status, str(exc), rid))
        if match is None:
            return await self._reply(request, trail,
                                     core.rejected(404, "no zone serves this path", rid))
        zone = match.zone
        trail.zone = zone.name
        peer = request.remote or ""
        trusted_proxy = self._from_trusted_proxy(peer)
        presented = Presented(
            authorization=request.headers.get("Authorization"),
            peer_cert_der=_peer_certificate(request),
            xfcc=request.headers.get("X-Forwarded-Client-Cert") if trusted_proxy else None,
            peer_ip=peer,
        )
        try:
            identity = await self.authenticator.authenticate(presented)
        except InvalidCredentials as exc:
            trail.reasons = (exc.code,)
            _log.info("invalid credentials", extra={"request_id": rid, "code": exc.code})
            return await self._reply(request, trail, core.invalid_credentials(exc, rid))
        trail.subject, trail.subject_type = identity.subject.id, identity.subject.type
        trail.authenticated = identity.subject.authenticated
        now = datetime.now(UTC)
        # behind a trusted front proxy the client is the one it forwarded for
        client = core.client_address(peer, request.headers.get("X-Forwarded-For"),
                                     self._from_trusted_proxy)
        try:
            device = self.devices.lookup(identity.certificate, client, now)
        except DeviceTrustUnavailable as exc:
            _log.error("device trust unavailable: %s", exc, extra={"request_id": rid})
            return await self._reply(request, trail,
                                     core.unavailable("device-trust-unavailable", rid))
        trail.device, trail.device_trust = device.id, device.trust
        inbound = _header_pairs(request)
        facts = core.RequestFacts(
            request_id=rid, method=request.method, host=request.host,
            time=now.isoformat(timespec="seconds").replace("+00:00", "Z"),
            source_ip=client, target=target, route=match,
            source_zone=self.segments.segment_of(client) if client else "", headers=inbound)
        input_doc = core.policy_input(facts, identity, device, core.risk_score(identity, device))
        decision_id = trail.decision_id = uuid.uuid4().hex
        decision = await self._decide(input_doc, rid)
        if decision is None:
            return await self._reply(request, trail, core.unavailable("pdp-unavailable", rid))
        if decision.decision_id:
            # the PDP's decision log named it: one id across decision log and audit log
            decision_id = trail.decision_id = decision.decision_id
        trail.allow, trail.reasons = decision.allow, decision.reasons
        for reason in decision.reasons or ("none",):
            self._decisions("allow" if decision.allow else "deny", reason).inc()
        if self.decision_index is not None:
            # a queue put: the writer thread masks and stores it (never awaited here)
            self.decision_index.offer(PendingDecision(
                decision_id=decision_id, time=now, subject=identity.subject.id,
                device=device.id, zone=zone.name, level=zone.level, method=request.method,
                path=target.path, allow=decision.allow, reasons=decision.reasons,
                revision=self.engine.revision if self.engine is not None else "",
                input=input_doc))
        verdict = core.enforce(identity, decision, decision_id)
        if isinstance(verdict, core.Respond):
            return await self._reply(request, trail, verdict)
        if verdict.audit_full:
            trail.full_input = dict(input_doc)
        if verdict.rate_limit is not None:
            wait = self.limiter.take(_rate_keys(identity, client or peer), verdict.rate_limit,
                                     time.monotonic())
            if wait:
                self.metrics.rate_limited.inc()
                return await self._reply(request, trail, core.rate_limited(wait, decision_id))
        if not self.audit.healthy:
            return await self._reply(request, trail, core.unavailable("audit-unavailable", rid))
        try:
            body = await self._read_body(request)
        except RequestRejected as exc:
            return await self._reply(request, trail, core.rejected(exc.status, str(exc), rid))
        return await self._forward(request, trail, identity, verdict, body, inbound,
                                   upstream_url(zone, target.wire_path, target.raw_query),
                                   zone=zone, peer=peer, trusted_proxy=trusted_proxy)

    async def _decide(self, input_doc: JSONObject, rid: str) -> Decision | None:
        engine = self.engine
        if engine is None:
            return None
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.options.pdp_timeout):
                decision = await engine.evaluate(input_doc)
        except (PDPUnavailable, TimeoutError) as exc:
            _log.error("policy engine unavailable: %s", exc or "timeout",
                       extra={"request_id": rid})
            return None
        except Exception:
            # an engine bug is still no answer: deny (fail closed) and keep the trace
            _log.exception("policy engine failed", extra={"request_id": rid})
            return None
        finally:
            self.metrics.policy_seconds.observe(time.perf_counter() - started)
        return decision

    async def _read_body(self, request: web.BaseRequest) -> bytes | None:
        if not request.body_exists:
            return None
        limit = self.options.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise RequestRejected(f"request body larger than {limit} bytes", 413)
        parts: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.options.body_timeout):
                while True:
                    chunk = await request.content.read(64 << 10)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > limit:
                        raise RequestRejected(f"request body larger than {limit} bytes", 413)
                    parts.append(chunk)
        except TimeoutError:
            raise RequestRejected("request body not received in time", 408) from None
        return b"".join(parts)

    async def _forward(self, request: web.BaseRequest, trail: RequestTrail, identity: Authenticated,
                       verdict: core.Forward, body: bytes | None,
                       inbound: tuple[tuple[str, str], ...], url: URL, *,
                       zone: ZoneRoute, peer: str, trusted_proxy: bool) -> web.StreamResponse:
        zone_name = zone.name
        assertion = self.signer.mint(zone=zone_name, subject=identity.subject,
                                     decision_id=trail.decision_id, now=int(time.time()))
        forwarded_for = peer
        if trusted_proxy and request.headers.get("X-Forwarded-For"):
            forwarded_for = f"{request.headers['X-Forwarded-For']}, {peer}"
        headers = upstream_request_headers(
            inbound, forward_authorization=zone.forward_authorization, client_ip=forwarded_for,
            proto=self._proto, host=request.host, assertion=assertion,
            decision_id=trail.decision_id, extra=dict(verdict.headers))
        started = time.perf_counter()
        try:
            up = await open_upstream(self.session(), request.method, url, headers, body,
                                     self.options)
        except UpstreamFailed as exc:
            self._upstream_errors(zone_name, exc.kind).inc()
            return await self._reply(request, trail,
                                     core.upstream_failed(504 if exc.status == 504 else 502,
                                                          trail.decision_id))
        self._upstream_seconds(zone_name).observe(time.perf_counter() - started)
        try:
            resp, info = await relay(request, up, zone=zone, ceiling=verdict.ceiling,
                                     decision_id=trail.decision_id, inspector=self.inspector,
                                     options=self.options)
        except UpstreamFailed as exc:
            self._upstream_errors(zone_name, exc.kind).inc()
            return await self._reply(request, trail,
                                     core.upstream_failed(502, trail.decision_id))
        finally:
            up.release()
        self._record_relay(trail, info)
        return resp

    def _record_relay(self, trail: RequestTrail, info: Relayed) -> None:
        trail.status, trail.bytes_sent = info.status, info.bytes_sent
        trail.response_level, trail.dlp = info.response_level, info.dlp
        trail.outcome = f"{info.cut}-cut" if info.cut else "forwarded"
        if info.cut == "upstream":
            self._upstream_errors(trail.zone, "cut").inc()
        self._dlp(trail.zone, info.dlp).inc()

    async def _audit(self, trail: RequestTrail, elapsed: float) -> None:
        revision = self.engine.revision if self.engine is not None else ""
        try:
            await self.audit.append("request", trail.event(elapsed, revision))
        except AuditWriteError as exc:
            # later requests see audit.healthy False and get 503
            self.metrics.audit_errors.inc()
            _log.error("audit append failed: %s", exc, extra={"request_id": trail.request_id})
            return
        self.metrics.audit_records.inc()


def _peer_certificate(request: web.BaseRequest) -> bytes | None:
    transport = request.transport
    if transport is None:
        return None
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return der if isinstance(der, bytes) and der else None


def _header_pairs(request: web.BaseRequest) -> tuple[tuple[str, str], ...]:
    return tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers)


def _rate_keys(identity: Authenticated, peer: str) -> tuple[str, ...]:
    subject = identity.subject
    keys = [f"sub:{subject.issuer}|{subject.id}" if subject.authenticated else f"ip:{peer}"]
    if identity.certificate is not None:
        keys.append(f"dev:{identity.certificate.fingerprint}")
    return tuple(keys)

