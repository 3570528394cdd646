"""The sans-io PEP core: decisions to verdicts, response plans, headers, rate limits."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from yarl import URL

from gateway.identity.types import ANONYMOUS, Authenticated, InvalidCredentials, Subject
from gateway.ingress import core
from gateway.ingress.assertion import AssertionSigner
from gateway.ingress.headers import downstream_response_headers, upstream_request_headers
from gateway.ingress.paths import normalise_target
from gateway.ingress.ratelimit import RateLimiter
from gateway.ingress.routing import RouteMatch, ZoneRoute
from gateway.pdp.port import Decision, Obligations

ALICE = Authenticated(Subject(authenticated=True, id="alice", issuer="https://idp",
                              roles=("doctor",), clearance="L3"))
ANON = Authenticated(ANONYMOUS)
ALLOW = Decision(allow=True)


def _allow(**obligations: object) -> Decision:
    return Decision(allow=True, obligations=Obligations(**obligations))  # type: ignore[arg-type]


ENFORCE = [
    # (identity, decision, status or "forward", reason/ceiling, www-authenticate contains)
    (ANON, Decision.deny("unauthenticated"), 401, "unauthenticated", "Bearer"),
    (ALICE, Decision.deny("unauthenticated"), 403, "unauthenticated", None),
    (ALICE, Decision.deny("device-quarantined"), 403, "device-quarantined", None),
    (ANON, Decision.deny("zone-not-permitted"), 403, "zone-not-permitted", None),
    (ALICE, _allow(step_up=True), 401, "step-up-required", "insufficient_user_authentication"),
    (ALICE, _allow(headers={"X-Zonegate-Assertion": "x"}), 403, "obligation-invalid", None),
    (ALICE, _allow(headers={"Authorization": "x"}), 403, "obligation-invalid", None),
    (ALICE, _allow(headers={"x-zonegate-decision-id": "x"}), 403, "obligation-invalid", None),
    (ALICE, _allow(headers={"X-Bad": "a\r\nb"}), 403, "obligation-invalid", None),
    (ALICE, ALLOW, "forward", "L3", None),
    (ALICE, _allow(max_level="L2"), "forward", "L2", None),
    (ANON, ALLOW, "forward", "L1", None),
]


@pytest.mark.parametrize(("identity", "decision", "status", "detail", "challenge"), ENFORCE)
def test_enforce(identity: Authenticated, decision: Decision, status: int | str, detail: str,
                 challenge: str | None) -> None:
    verdict = core.enforce(identity, decision, "d-1")
    if status == "forward":
        assert isinstance(verdict, core.Forward)
        assert verdict.ceiling == detail
        return
    assert isinstance(verdict, core.Respond)
    assert verdict.status == status
    assert detail in verdict.body["reasons"]  # type: ignore[operator]
    assert verdict.body["decision_id"] == "d-1"
    headers = dict(verdict.headers)
    if challenge is None:
        assert "WWW-Authenticate" not in headers
    else:
        assert challenge in headers["WWW-Authenticate"]
    if status == 403:
        assert verdict.body["error"] == "forbidden"


def test_forward_carries_obligations() -> None:
    verdict = core.enforce(ALICE, _allow(headers={"X-Purpose": "care"}, rate_limit=30,
                                         audit=True), "d")
    assert isinstance(verdict, core.Forward)
    assert verdict.headers == (("X-Purpose", "care"),)
    assert (verdict.rate_limit, verdict.audit_full) == (30, True)


def test_invalid_credentials_never_asks_policy_and_says_invalid_token() -> None:
    verdict = core.invalid_credentials(InvalidCredentials("expired", "token expired"), "r")
    assert verdict.status == 401
    assert dict(verdict.headers)["WWW-Authenticate"].endswith('error="invalid_token"')
    assert verdict.body["code"] == "expired"


PLANS = [
    ("application/json", "", 100, "L4", "L3", "inspect"),
    ("application/json; charset=utf-8", "", None, "L4", "L3", "inspect"),
    ("application/problem+json", "", 10, "L4", "L1", "inspect"),
    ("text/plain", "identity", 10, "L4", "L1", "inspect"),
    ("image/png", "", 10, "L6", "L1", "stream"),
    ("application/octet-stream", "gzip", None, "L6", "L1", "stream"),
    ("application/json", "", 2_000_000, "L4", "L3", "refuse"),
    ("application/json", "", 2_000_000, "L3", "L3", "stream"),
    ("application/json", "gzip", 10, "L4", "L3", "refuse"),
    ("text/csv", "br", 10, "L2", "L3", "stream"),
    ("application/xml", "", 10, "L4", "L3", "inspect"),
    ("application/soap+xml; charset=utf-8", "", 10, "L4", "L3", "inspect"),
    ("application/x-www-form-urlencoded", "", 10, "L4", "L3", "inspect"),
    ("", "", 10, "L4", "L3", "inspect"),  # no Content-Type: tried as text, never unseen
    ("", "gzip", 10, "L4", "L3", "refuse"),
]


@pytest.mark.parametrize(("ctype", "encoding", "length", "zone", "ceiling", "plan"), PLANS)
def test_plan_response(ctype: str, encoding: str, length: int | None, zone: str,
                       ceiling: str, plan: str) -> None:
    assert core.plan_response(content_type=ctype, content_encoding=encoding,
                              content_length=length, max_inspect=1 << 20, zone_level=zone,
                              ceiling=ceiling) == plan


@pytest.mark.parametrize(("found", "ceiling", "mode", "action"), [
    ("L1", "L3", "mask", "pass"), ("L3", "L3", "mask", "pass"), ("L4", "L3", "mask", "mask"),
    ("L4", "L3", "block", "block"), ("L6", "L5", "mask", "mask"), ("L2", "L1", "block", "block"),
])
def test_dlp_action(found: str, ceiling: str, mode: str, action: str) -> None:
    assert core.dlp_action(found, ceiling, mode) == action  # type: ignore[arg-type]


@pytest.mark.parametrize(("changed", "residual", "ceiling", "release"), [
    (True, "L3", "L3", True), (True, "L1", "L3", True), (True, "L4", "L3", False),
    (False, "L1", "L3", False), (True, None, "L3", False), (True, "L6", "L5", False),
])
def test_masking_suffices(changed: bool, residual: str | None, ceiling: str,
                          release: bool) -> None:
    assert core.masking_suffices(changed, residual, ceiling) is release


@pytest.mark.parametrize(("identity", "trust", "risk"), [
    (ALICE, "trusted", 0), (ALICE, "unknown", 30), (ANON, "unknown", 70),
    (ANON, "trusted", 40), (ALICE, "quarantined", 100),
])
def test_risk(identity: Authenticated, trust: str, risk: int) -> None:
    assert core.risk_score(identity, core.DeviceFacts(trust=trust)) == risk  # type: ignore[arg-type]


def test_policy_input_has_contract_3_shape() -> None:
    target = normalise_target("/zones/health/records/7?full=1")
    zone = ZoneRoute("health", "/zones/health/", URL("http://127.0.0.1:1"), "L4")
    facts = core.RequestFacts(request_id="r", method="GET", host="gw", time="2026-01-01T00:00:00Z",
                              source_ip="10.0.0.5", target=target,
                              route=RouteMatch(zone, "/records/7"), source_zone="hospital-net",
                              headers=(("Accept", "a"), ("Authorization", "Bearer secret"),
                                       ("accept", "b"), ("Cookie", "s=1"),
                                       ("X-Zonegate-Assertion", "forged"),
                                       ("X-Break-Glass-Reason", "fire")))
    doc = core.policy_input(facts, ALICE, core.DeviceFacts(trust="unknown"), 30)
    assert set(doc) == {"request", "subject", "device", "source", "resource", "context"}
    assert doc["request"] == {"id": "r", "method": "GET", "path": "/zones/health/records/7",
                              "host": "gw", "query": {"full": ["1"]},
                              "headers": {"accept": "a, b", "x-break-glass-reason": "fire"},
                              "time": "2026-01-01T00:00:00Z"}
    assert doc["source"] == {"ip": "10.0.0.5", "zone": "hospital-net"}
    assert doc["resource"] == {"zone": "health", "level": "L4", "path": "/records/7"}
    assert doc["subject"]["roles"] == ["doctor"]  # type: ignore[index]
    assert doc["context"] == {"risk": 30}


INBOUND = [
    ("Host", "gw"), ("Accept", "application/json"), ("Connection", "keep-alive, X-Secret"),
    ("X-Secret", "hop"), ("Keep-Alive", "300"), ("TE", "trailers"), ("Upgrade", "h2c"),
    ("Proxy-Authorization", "Basic eA=="), ("X-Zonegate-Assertion", "forged"),
    ("x-zonegate-decision-id", "forged"), ("X-Forwarded-Client-Cert", "By=spiffe://x"),
    ("X-Forwarded-For", "1.2.3.4"), ("Forwarded", "for=1.2.3.4"), ("Authorization", "Bearer t"),
    ("Accept-Encoding", "gzip"), ("X-Request-Tag", "keep-me"),
]


@pytest.mark.parametrize("forward_auth", [False, True])
def test_upstream_headers_strip_and_add(forward_auth: bool) -> None:
    out = upstream_request_headers(INBOUND, forward_authorization=forward_auth,
                                   client_ip="10.0.0.5", proto="https", host="gw",
                                   assertion="signed", decision_id="d",
                                   extra={"X-Purpose": "care"})
    names = [n.lower() for n, _ in out]
    for gone in ("connection", "x-secret", "keep-alive", "te", "upgrade",
                 "proxy-authorization", "forwarded", "host"):
        assert gone not in names
    assert ("authorization" in names) is forward_auth
    values = dict((n.lower(), v) for n, v in out)
    assert values["x-zonegate-assertion"] == "signed"
    assert values["x-zonegate-decision-id"] == "d"
    assert names.count("x-zonegate-assertion") == 1
    assert "x-forwarded-client-cert" not in names
    assert values["x-forwarded-for"] == "10.0.0.5"
    assert values["accept-encoding"] == "identity"
    assert values["x-request-tag"] == "keep-me"
    assert values["x-purpose"] == "care"


def test_response_headers() -> None:
    upstream = [("Content-Type", "application/json"), ("Content-Length", "10"),
                ("Connection", "close, X-Hop"), ("X-Hop", "1"), ("Set-Cookie", "a=b"),
                ("Content-Encoding", "identity"), ("X-Zonegate-Internal", "x")]
    relayed = [n for n, _ in downstream_response_headers(upstream, rewritten=False)]
    assert relayed == ["Content-Type", "Set-Cookie", "Content-Encoding"]
    rewritten = [n for n, _ in downstream_response_headers(upstream, rewritten=True)]
    assert rewritten == ["Content-Type", "Set-Cookie"]


def test_rate_limiter_buckets_and_memory_bound() -> None:
    limiter = RateLimiter(max_keys=3, burst_seconds=10)
    # 60/min with a 10 s burst: 10 immediately, then one per second
    assert [limiter.take(("a",), 60, 0.0) for _ in range(11)] == [0] * 10 + [1]
    assert limiter.take(("a",), 60, 1.0) == 0
    assert limiter.take(("a", "dev"), 60, 1.0) == 1  # a is empty, so dev is not charged
    for key in ("b", "c", "d", "e"):
        limiter.take((key,), 60, 2.0)
    assert len(limiter) == 3
    assert limiter.take(("z",), 0, 0.0) == 60


def test_rate_limiter_a_changed_limit_never_refills_the_bucket() -> None:
    limiter = RateLimiter(burst_seconds=10)
    assert [limiter.take(("a",), 60, 0.0) for _ in range(10)] == [0] * 10  # emptied
    # alternating between zones whose policies set other limits earns nothing extra
    for limit in (120, 60, 30, 120):
        assert limiter.take(("a",), limit, 0.0) > 0
    assert limiter.take(("a",), 120, 0.5) == 0  # 0.5 s at 120/min earned one token
    assert limiter.take(("a",), 6, 0.5) > 0
    # a lower limit's smaller capacity holds: 100 s at 6/min refill at most 1 token
    limiter.take(("b",), 600, 0.0)
    assert [limiter.take(("b",), 6, 100.0) for _ in range(2)][1] > 0


def _behind(*networks: str) -> Any:
    import ipaddress

    nets = [ipaddress.ip_network(n) for n in networks]
    return lambda ip: any(ipaddress.ip_address(ip) in n for n in nets) if ip else False


@pytest.mark.parametrize(("peer", "xff", "client"), [
    ("10.1.2.3", "10.9.9.9", "10.1.2.3"),  # not a proxy: its XFF means nothing
    ("10.0.0.2", "10.20.5.5", "10.20.5.5"),
    ("10.0.0.2", "6.6.6.6, 10.20.5.5", "10.20.5.5"),  # left of it: the client's inventions
    ("10.0.0.2", "10.20.5.5, 10.0.0.3", "10.20.5.5"),  # a second trusted hop is skipped
    ("10.0.0.2", "10.20.5.5:5123", "10.20.5.5"),
    ("10.0.0.2", "[2001:db8::7]:443", "2001:db8::7"),
    ("10.0.0.2", None, ""),  # the proxy forwarded for no one: unknown, not the proxy
    ("10.0.0.2", "unknown", ""),
    ("10.0.0.2", "10.0.0.3", ""),  # only proxies: no client address
])
def test_client_address(peer: str, xff: str | None, client: str) -> None:
    assert core.client_address(peer, xff, _behind("10.0.0.0/29")) == client


def test_assertion_verifies_with_published_jwks() -> None:
    signer = AssertionSigner.generate("https://gateway.city.example")
    token = signer.mint(zone="health", subject=ALICE.subject, decision_id="d-9", now=1000)
    key = jwt.PyJWK(signer.jwks()["keys"][0])
    claims = jwt.decode(token, key.key, algorithms=["ES256"], audience="health",
                        options={"verify_exp": False, "verify_iat": False,
                                 "verify_nbf": False})
    assert (claims["sub"], claims["roles"], claims["clearance"]) == ("alice", ["doctor"], "L3")
    assert (claims["decision_id"], claims["exp"] - claims["iat"]) == ("d-9", 300)
    assert jwt.get_unverified_header(token)["kid"] == signer.kid
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, key.key, algorithms=["ES256"], audience="transport",
                   options={"verify_exp": False})


@pytest.mark.parametrize(("address", "segment"), [
    ("10.1.2.3", "hospital-net"), ("10.1.9.9", "gov-net"), ("10.2.0.1", ""),
    ("fd00::5", "iot-net"), ("not-an-ip", ""),
    # what a dual-stack listener reports for an IPv4 peer is that peer
    ("::ffff:10.1.2.3", "hospital-net"), ("fd00::5%eth0", "iot-net"),
])
def test_segments_most_specific_wins(address: str, segment: str) -> None:
    from gateway.ingress.segments import SegmentMap

    segments = SegmentMap({"gov-net": ("10.1.0.0/16",), "hospital-net": ("10.1.2.0/24",),
                           "iot-net": ("fd00::/8",)})
    assert segments.segment_of(address) == segment


def test_policy_headers_for_break_glass_are_accepted() -> None:
    verdict = core.enforce(ALICE, _allow(headers={"x-zonegate-break-glass": "fire"}), "d")
    assert isinstance(verdict, core.Forward)
