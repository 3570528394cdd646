"""The mitmproxy addon: authorize, inspect and, when needed, refuse outbound requests.

`EgressGuard` is the I/O shell around the pure parts (identify -> policy input -> PDP ->
`core.judge_body`). One concern per hook, as mitmproxy's own addons do:

* ``requestheaders``: a declared body above the limit is refused before it is read;
* ``request``: the terminal is identified, the policy decides, the body and query are
  graded; a refusal becomes the response (403 JSON, or 503 when a lookup or the PDP is
  unavailable), a masked body replaces the original;
* ``next_layer``: a tunnel that is not HTTP is parsed as HTTP anyway (and so refused),
  never relayed as raw TCP; an ``Upgrade`` request (WebSocket) is refused. Either would carry
  data the proxy cannot grade.

mitmproxy logs an exception raised by a hook and lets the flow continue, which on this path
would be an open door: every failure in ``request`` is turned into a 503 refusal.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from mitmproxy import http, tcp, udp
from mitmproxy.proxy import layer, layers
from mitmproxy.proxy.layers.http import HTTPMode

from gateway.egress.alerts import EGRESS_BLOCKED, EGRESS_DLP, AlertDispatcher, EgressEvent
from gateway.egress.core import (
    BODY_TOO_LARGE,
    BODY_UNINSPECTABLE,
    DATA_LEVEL_EXCEEDED,
    DEVICE_CERTIFICATE_INVALID,
    LOOKUP_UNAVAILABLE,
    POLICY_UNAVAILABLE,
    UPGRADE_REFUSED,
    Verdict,
    judge_body,
    rank,
    refusal,
)
from gateway.egress.dlp import OutboundInspector, Uninspectable
from gateway.egress.errors import EgressUnavailable
from gateway.egress.identify import Terminal, TerminalIdentifier
from gateway.egress.policy_input import (
    OutboundRequest,
    canonical_host,
    egress_input,
    host_of_header,
)
from gateway.pdp.port import PDPUnavailable, PolicyEngine

log = logging.getLogger("zonegate.egress")


@dataclass(frozen=True, slots=True)
class GuardSettings:
    """How the guard behaves; from the `egress:` section of the configuration."""

    mode: Literal["regular", "transparent"] = "regular"
    dlp: Literal["block", "mask"] = "block"
    max_body_bytes: int = 1 << 20


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class EgressGuard:
    """mitmproxy addon enforcing `data.zonegate.egress.decision` and outbound DLP."""

    def __init__(self, *, engine: PolicyEngine, identifier: TerminalIdentifier,
                 inspector: OutboundInspector, alerts: AlertDispatcher | None = None,
                 settings: GuardSettings = GuardSettings(),
                 clock: Callable[[], dt.datetime] = _now) -> None:
        self.engine = engine
        self.identifier = identifier
        self.inspector = inspector
        self.alerts = alerts
        self.settings = settings
        self._clock = clock
        self.counts: dict[str, int] = {}

    # -- hooks ---------------------------------------------------------------------------

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        """Refuse a declared body above the limit before reading it."""
        declared = flow.request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.settings.max_body_bytes:
            self._refuse(flow, Verdict("block", 413, (BODY_TOO_LARGE,)), "")

    async def request(self, flow: http.HTTPFlow) -> None:
        """Decide one outbound request; a refusal becomes the response."""
        if flow.response is not None:
            return  # refused in requestheaders
        try:
            await self._decide(flow)
        except Exception:  # fail closed: mitmproxy would otherwise forward the flow
            log.exception("egress: refusing %s after an internal error", flow.request.url)
            self._refuse(flow, Verdict("block", 503, ("internal-error",)), "")

    def next_layer(self, nextlayer: layer.NextLayer) -> None:
        """A tunnel that is not HTTP would be relayed as raw TCP: parse it as HTTP instead,
        so that anything else fails to parse and is closed before an upstream is dialled."""
        if isinstance(nextlayer.layer, layers.TCPLayer | layers.UDPLayer):
            self._count("non-http-refused")
            nextlayer.layer = layers.HttpLayer(nextlayer.context, HTTPMode.transparent)

    def tcp_message(self, flow: tcp.TCPFlow) -> None:
        """Defence in depth: should a raw TCP flow exist after all, relay nothing."""
        flow.messages[-1].content = b""
        flow.kill()  # type: ignore[no-untyped-call]

    def udp_message(self, flow: udp.UDPFlow) -> None:
        """UDP is not proxied for terminals."""
        flow.messages[-1].content = b""
        flow.kill()  # type: ignore[no-untyped-call]

    # -- the decision --------------------------------------------------------------------

    async def _decide(self, flow: http.HTTPFlow) -> None:
        req = flow.request
        outbound = self._outbound(flow)
        destination = f"{outbound.host}:{outbound.port}"
        chain = tuple(x509.load_pem_x509_certificate(c.to_pem()).public_bytes(Encoding.DER)
                      for c in flow.client_conn.certificate_list)
        source_ip = str(flow.client_conn.peername[0]) if flow.client_conn.peername else ""
        try:
            terminal = self.identifier.identify(canonical_host(source_ip), chain, self._clock())
        except EgressUnavailable as exc:
            log.error("egress: %s", exc)
            self._refuse(flow, Verdict("block", 503, (LOOKUP_UNAVAILABLE,)), destination)
            return
        if req.headers.get("upgrade"):
            # a WebSocket or other upgraded stream would carry data past body inspection
            self._refuse(flow, Verdict("block", 403, (UPGRADE_REFUSED,)), destination,
                         terminal=terminal)
            return
        if terminal.certificate_error:
            verdict = Verdict("block", 403, (DEVICE_CERTIFICATE_INVALID,))
            self._refuse(flow, verdict, destination, terminal=terminal,
                         detail=terminal.certificate_error)
            self._alert(EgressEvent(EGRESS_BLOCKED, terminal, outbound.host, outbound.port,
                                    outbound.method, verdict.reasons))
            return
        try:
            decision = await self.engine.evaluate(egress_input(terminal, outbound))
        except PDPUnavailable as exc:
            log.error("egress: policy unavailable: %s", exc)
            self._refuse(flow, Verdict("block", 503, (POLICY_UNAVAILABLE,)), destination,
                         terminal=terminal)
            return
        decision_id = decision.decision_id or outbound.id
        if not decision.allow:
            verdict = Verdict("block", 403, decision.reasons)
            self._refuse(flow, verdict, destination, terminal=terminal, decision_id=decision_id)
            self._alert(EgressEvent(EGRESS_BLOCKED, terminal, outbound.host, outbound.port,
                                    outbound.method, decision.reasons, decision_id))
            return
        ceiling = decision.obligations.max_level or "L1"
        verdict = self._inspect(flow, ceiling)
        if verdict.action == "forward":
            self._count("forwarded")
            return
        event = EgressEvent(EGRESS_DLP, terminal, outbound.host, outbound.port, outbound.method,
                            verdict.reasons, decision_id, level=verdict.level, max_level=ceiling,
                            action="masked" if verdict.action == "mask" else "blocked")
        if verdict.action == "mask" and verdict.body is not None:
            req.content = verdict.body
            self._count("masked")
        else:
            self._refuse(flow, verdict, destination, terminal=terminal, decision_id=decision_id)
        if verdict.reasons and verdict.reasons[0] == DATA_LEVEL_EXCEEDED:
            self._alert(event)

    def _outbound(self, flow: http.HTTPFlow) -> OutboundRequest:
        req = flow.request
        sni = flow.client_conn.sni or ""
        host_header = req.host_header or ""
        if self.settings.mode == "transparent":
            # the terminal dialled an IP; the proxy connects to the name it asked for
            # (SNI, else Host) and resolves it itself, so that the name the policy judged
            # is the one reached. The policy refuses SNI and Host that disagree, so only
            # the address changes: `req.host = …` would also rewrite the Host header to
            # the SNI name and hide exactly that disagreement (domain fronting).
            name = sni or host_of_header(host_header)
            if name:
                req.data.host = name
        return OutboundRequest(
            id=uuid.uuid4().hex, method=req.method, scheme=req.scheme, host=req.host,
            port=req.port, path=urlsplit(req.path).path or "/",
            time=self._clock().strftime("%Y-%m-%dT%H:%M:%SZ"),
            host_header=host_header, sni=sni,
        )

    def _inspect(self, flow: http.HTTPFlow, ceiling: str) -> Verdict:
        req = flow.request
        query_level = self.inspector.query(urlsplit(req.path).query)
        if rank(query_level) > rank(ceiling):
            return Verdict("block", 403, (DATA_LEVEL_EXCEEDED,), level=query_level)
        try:
            body = req.get_content(strict=True) or b""
        except ValueError:
            return Verdict("block", 403, (BODY_UNINSPECTABLE,))
        if len(body) > self.settings.max_body_bytes:
            return Verdict("block", 413, (BODY_TOO_LARGE,))
        if not body:
            return Verdict("forward", level=query_level)
        try:
            found = self.inspector.body(body, req.headers.get("content-type", ""), ceiling)
        except Uninspectable:
            return Verdict("block", 403, (BODY_UNINSPECTABLE,))
        return judge_body(level=found.level, masked_body=found.masked, ceiling=ceiling,
                          mode=self.settings.dlp, maskable=found.maskable)

    # -- effects -------------------------------------------------------------------------

    def _refuse(self, flow: http.HTTPFlow, verdict: Verdict, destination: str, *,
                terminal: Terminal | None = None, decision_id: str = "",
                detail: str = "") -> None:
        body = refusal(verdict.status, verdict.reasons, decision_id=decision_id,
                       device=terminal.device_id if terminal else "", destination=destination,
                       detail=detail)
        flow.response = http.Response.make(
            verdict.status, body,
            {"Content-Type": "application/json", "Cache-Control": "no-store",
             "X-Zonegate-Egress": "refused"})
        for reason in verdict.reasons:
            self._count(reason)

    def _alert(self, event: EgressEvent) -> None:
        if self.alerts is not None:
            self.alerts.emit(event)

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1
