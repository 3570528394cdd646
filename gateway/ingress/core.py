"""The policy enforcement point's core, sans-io.

Pure functions from (verified identity, request facts, decision) to what the I/O shell
must do: forward with obligations, or answer with a fixed response. Nothing here reads a
socket, a clock or a file, so every branch is tested without a network.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from gateway.identity.types import Authenticated, InvalidCredentials
from gateway.ingress.headers import RESERVED_PREFIX, invalid_obligation_header
from gateway.ingress.paths import NormalisedTarget
from gateway.ingress.routing import DLPMode, RouteMatch, level_rank
from gateway.pdp.port import Decision, JSONObject, JSONValue

DeviceTrust = Literal["trusted", "unknown", "quarantined"]
ResponsePlan = Literal["inspect", "stream", "refuse"]
DLPAction = Literal["pass", "mask", "block"]
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie",
                             "x-forwarded-client-cert"})


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    """The `device` object of the policy input."""

    id: str = ""
    cert_fingerprint: str = ""
    trust: DeviceTrust = "unknown"
    posture: JSONObject | None = None
    quarantine_reason: str = ""


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the shell learned about one request before policy."""

    request_id: str
    method: str
    host: str
    time: str  # RFC 3339
    source_ip: str
    target: NormalisedTarget
    route: RouteMatch
    source_zone: str = ""  # the network segment of source_ip
    headers: tuple[tuple[str, str], ...] = ()  # inbound headers, as received


@dataclass(frozen=True, slots=True)
class Respond:
    """Answer the client directly; `outcome` is the audit label."""

    status: int
    body: JSONObject
    outcome: str
    headers: tuple[tuple[str, str], ...] = ()

    def body_bytes(self) -> bytes:
        """The JSON body as sent."""
        return json.dumps(self.body, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Forward:
    """Send the request upstream under these obligations."""

    ceiling: str  # highest level the caller may receive
    headers: tuple[tuple[str, str], ...]  # obligation headers for the upstream request
    rate_limit: int | None  # requests per minute, per subject and per device
    audit_full: bool


Verdict = Forward | Respond


def client_address(peer: str, forwarded_for: str | None,
                   is_trusted: Callable[[str], bool]) -> str:
    """The address the request comes from, as policy and quarantine should see it.

    From anyone but a trusted front proxy it is the peer. Behind one, it is the right-most
    address of `X-Forwarded-For` that is not itself a trusted proxy (each proxy appends the
    address it received from; entries left of the first untrusted one could be the
    client's own inventions). When that header is missing or that entry is not an IP
    address, the client is unknown: '' (no segment, no address to match), never the
    proxy's own address, whose segment may be trusted.
    """
    if not is_trusted(peer):
        return peer
    for entry in reversed((forwarded_for or "").split(",")):
        candidate = entry.strip()
        if candidate.startswith("[") and "]" in candidate:  # [v6]:port
            candidate = candidate[1:candidate.index("]")]
        elif candidate.count(":") == 1:  # v4:port
            candidate = candidate.split(":", 1)[0]
        try:
            address = str(ipaddress.ip_address(candidate))
        except ValueError:
            return ""
        if not is_trusted(address):
            return address
    return ""


def risk_score(identity: Authenticated, device: DeviceFacts) -> int:
    """A coarse 0-100 risk for `context.risk`: quarantine is 100, unknowns add up."""
    if device.trust == "quarantined":
        return 100
    risk = 0
    if not identity.subject.authenticated:
        risk += 40
    if device.trust == "unknown":
        risk += 30
    return min(risk, 100)


def policy_input(facts: RequestFacts, identity: Authenticated, device: DeviceFacts,
                 risk: int) -> JSONObject:
    """The contract-3 `input` document."""
    who = identity.subject
    cert = identity.certificate
    subject: JSONObject = {
        "authenticated": who.authenticated, "type": who.type, "id": who.id,
        "issuer": who.issuer, "roles": list[JSONValue](who.roles),
        "groups": list[JSONValue](who.groups), "clearance": who.clearance, "acr": who.acr,
        "amr": list[JSONValue](who.amr), "auth_time": who.auth_time,
        "spiffe_id": who.spiffe_id or (cert.spiffe_id if cert is not None else ""),
    }
    query: JSONObject = {k: list[JSONValue](v) for k, v in facts.target.query.items()}
    return {
        "request": {"id": facts.request_id, "method": facts.method,
                    "path": facts.target.path, "host": facts.host, "query": query,
                    "headers": policy_headers(facts.headers), "time": facts.time},
        "subject": subject,
        "device": {"id": device.id, "cert_fingerprint": device.cert_fingerprint,
                   "trust": device.trust, "posture": device.posture or {}},
        "source": {"ip": facts.source_ip, "zone": facts.source_zone},
        "resource": {"zone": facts.route.zone.name, "level": facts.route.zone.level,
                     "path": facts.route.resource_path},
        "context": {"risk": risk},
    }


def policy_headers(headers: tuple[tuple[str, str], ...]) -> JSONObject:
    """Request headers for policy (lower-case names, repeats joined with ', ').

    Credentials and gateway-internal headers are left out: the policy sees the verified
    identity instead, and decision logs must never hold a secret.
    """
    out: dict[str, str] = {}
    for name, value in headers:
        lower = name.lower()
        if lower in _SECRET_HEADERS or lower.startswith(RESERVED_PREFIX):
            continue
        out[lower] = f"{out[lower]}, {value}" if lower in out else value
    return dict[str, JSONValue](out)


def enforce(identity: Authenticated, decision: Decision, decision_id: str) -> Verdict:
    """Turn a decision into what happens to the request (contract 3 answers)."""
    if not decision.allow:
        reasons: list[JSONValue] = list(decision.reasons)
        if "unauthenticated" in decision.reasons and not identity.subject.authenticated:
            return Respond(401, {"error": "unauthenticated", "reasons": reasons,
                                 "decision_id": decision_id}, "deny",
                           (("WWW-Authenticate", 'Bearer realm="zonegate"'),))
        return Respond(403, {"error": "forbidden", "reasons": reasons,
                             "decision_id": decision_id}, "deny")
    obligations = decision.obligations
    if obligations.step_up:
        # RFC 9470: the token is valid but the authentication was not strong enough
        return Respond(401, {"error": "step_up_required", "reasons": ["step-up-required"],
                             "decision_id": decision_id}, "step-up",
                       (("WWW-Authenticate",
                         'Bearer realm="zonegate", error="insufficient_user_authentication", '
                         'error_description="step-up authentication required"'),))
    for name, value in obligations.headers.items():
        problem = invalid_obligation_header(name, value)
        if problem is not None:
            return Respond(403, {"error": "forbidden", "reasons": ["obligation-invalid"],
                                 "decision_id": decision_id}, "deny")
    ceiling = obligations.max_level or identity.subject.clearance
    return Forward(ceiling=ceiling, headers=tuple(obligations.headers.items()),
                   rate_limit=obligations.rate_limit, audit_full=obligations.audit)


def invalid_credentials(error: InvalidCredentials, request_id: str) -> Respond:
    """401 for presented credentials that are not acceptable; policy is not asked."""
    return Respond(401, {"error": "invalid_token", "code": error.code,
                         "request_id": request_id}, "invalid-credentials",
                   (("WWW-Authenticate", 'Bearer realm="zonegate", error="invalid_token"'),))


def unavailable(reason: str, request_id: str) -> Respond:
    """503: a dependency of the decision (PDP, device trust, audit) cannot answer."""
    return Respond(503, {"error": "unavailable", "reasons": [reason],
                         "request_id": request_id}, reason, (("Retry-After", "1"),))


def rate_limited(retry_after: int, decision_id: str) -> Respond:
    """429 under a rate-limit obligation."""
    return Respond(429, {"error": "rate_limited", "reasons": ["rate-limited"],
                         "decision_id": decision_id}, "rate-limited",
                   (("Retry-After", str(max(1, retry_after))),))


def rejected(status: int, message: str, request_id: str) -> Respond:
    """400/404/413/431 before policy, with a message that names the problem."""
    names = {400: "bad_request", 404: "not_found", 413: "payload_too_large",
             431: "request_header_fields_too_large"}
    return Respond(status, {"error": names.get(status, "bad_request"), "detail": message,
                            "request_id": request_id}, f"rejected-{status}")


def upstream_failed(status: Literal[502, 504], decision_id: str) -> Respond:
    """502 for a failed or reset upstream, 504 when it does not answer in time."""
    error = "bad_gateway" if status == 502 else "gateway_timeout"
    return Respond(status, {"error": error, "decision_id": decision_id},
                   f"upstream-{status}")


def response_blocked(reason: str, decision_id: str) -> Respond:
    """403 when the response may not be released to this caller."""
    return Respond(403, {"error": "forbidden", "reasons": [reason],
                         "decision_id": decision_id}, "response-blocked")


_TEXTUAL = frozenset({"application/json", "application/x-ndjson", "application/xml",
                      "application/x-www-form-urlencoded", "application/javascript",
                      "application/csv", "application/yaml", ""})


def is_inspectable(content_type: str) -> bool:
    """JSON and text are classified; every other type streams through.

    Text includes XML, form data, YAML and CSV sent as `application/*`, and a response
    with no Content-Type at all: it is tried as UTF-8 text, so an unlabelled record from a
    zone above the caller's ceiling is classified (or refused when it is not text), never
    passed through unseen.
    """
    mime = content_type.split(";", 1)[0].strip().lower()
    return (mime in _TEXTUAL or mime.endswith(("+json", "+xml"))
            or mime.startswith("text/"))


def plan_response(*, content_type: str, content_encoding: str, content_length: int | None,
                  max_inspect: int, zone_level: str, ceiling: str) -> ResponsePlan:
    """Decide how a response body is handled before reading any of it."""
    if not is_inspectable(content_type):
        return "stream"
    if content_encoding.strip().lower() not in ("", "identity"):
        return uninspectable(zone_level, ceiling)
    if content_length is not None and content_length > max_inspect:
        return uninspectable(zone_level, ceiling)
    return "inspect"


def uninspectable(zone_level: str, ceiling: str) -> ResponsePlan:
    """A JSON/text body that cannot be classified: only a zone within clearance streams."""
    return "stream" if level_rank(zone_level) <= level_rank(ceiling) else "refuse"


def dlp_action(found_level: str, ceiling: str, mode: DLPMode) -> DLPAction:
    """What to do with a classified body: pass it, mask it, or block it."""
    if level_rank(found_level) <= level_rank(ceiling):
        return "pass"
    return "block" if mode == "block" else "mask"


def masking_suffices(changed: bool, residual_level: str | None, ceiling: str) -> bool:
    """Whether a masked body may be released in place of one above the ceiling.

    Only when masking changed it and the masked body, classified again, is within the
    ceiling: combination and volume rules (many people's phone numbers in one answer) can
    keep a body above the ceiling after every single finding above it was masked, and such
    a body is refused like one with nothing to mask. An unknown residual level refuses.
    """
    return changed and residual_level is not None \
        and level_rank(residual_level) <= level_rank(ceiling)
