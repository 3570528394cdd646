"""End to end over loopback: routing, identity, policy answers, forwarding, DLP."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest

from tests.gateway.ingress.conftest import PHONE_BOOK, RESIDENT_ID, Harness, raw_http, status_of


async def test_allowed_request_is_forwarded_with_signed_assertion(gw: Harness) -> None:
    async with gw.client.get(f"{gw.url}/zones/transport/x?a=1", headers=gw.token()) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["raw_path"] == "/zones/transport/x?a=1"
    seen = dict((k.lower(), v) for k, v in gw.upstream.seen[-1]["headers"])
    assert "authorization" not in seen
    jwks = await (await gw.client.get(f"{gw.url}/.well-known/zonegate/jwks.json")).json()
    key = jwt.PyJWK(jwks["keys"][0]).key
    claims = jwt.decode(seen["x-zonegate-assertion"], key, algorithms=["ES256"],
                        audience="transport")
    assert (claims["sub"], claims["roles"], claims["clearance"]) == ("doctor", ["doctor"], "L4")
    assert claims["decision_id"] == seen["x-zonegate-decision-id"]
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"


@pytest.mark.parametrize(("path", "status"), [
    ("/zones/unknown/x", 404), ("/zones/healthx", 404), ("/", 404),
    ("/.well-known/zonegate/other", 404),
])
async def test_no_zone_is_404(gw: Harness, path: str, status: int) -> None:
    async with gw.client.get(gw.url + path, headers=gw.token()) as resp:
        assert resp.status == status
    assert gw.upstream.seen == []


async def test_missing_credentials_unauthenticated_is_401_bearer(gw: Harness) -> None:
    async with gw.client.get(f"{gw.url}/zones/health/records/7") as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert "invalid_token" not in resp.headers["WWW-Authenticate"]
    assert gw.policy.seen[-1]["subject"]["authenticated"] is False  # type: ignore[index]


async def test_anonymous_allowed_where_policy_allows(gw: Harness) -> None:
    async with gw.client.get(f"{gw.url}/zones/open/info") as resp:
        assert resp.status == 200


@pytest.mark.parametrize("authorization", [
    "Bearer not-a-jwt", "Basic ZG9jdG9yOng=", "Bearer ", "Bearer a.b.c",
])
async def test_bad_credentials_401_invalid_token_without_policy(
    gw: Harness, authorization: str
) -> None:
    async with gw.client.get(f"{gw.url}/zones/health/records/7",
                             headers={"Authorization": authorization}) as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].endswith('error="invalid_token"')
    assert gw.policy.seen == []
    assert gw.upstream.seen == []


async def test_expired_and_foreign_tokens_refused(gw: Harness) -> None:
    for claims in ({"exp": 1000}, {"aud": "someone-else"}, {"iss": "https://evil"}):
        async with gw.client.get(f"{gw.url}/zones/transport/x",
                                 headers=gw.token(**claims)) as resp:
            assert resp.status == 401, claims
    assert gw.policy.seen == []


async def test_deny_is_403_json_with_reasons(gw: Harness) -> None:
    async with gw.client.get(f"{gw.url}/zones/health/records/7",
                             headers=gw.token("engineer")) as resp:
        assert resp.status == 403
        body = await resp.json()
    assert body["error"] == "forbidden"
    assert body["reasons"] == ["zone-not-permitted"]
    assert len(body["decision_id"]) == 32
    assert gw.upstream.seen == []


async def test_pdp_down_is_503(gw: Harness) -> None:
    gw.policy.down = True
    async with gw.client.get(f"{gw.url}/zones/transport/x", headers=gw.token()) as resp:
        assert resp.status == 503
        assert (await resp.json())["reasons"] == ["pdp-unavailable"]
    assert gw.upstream.seen == []


async def test_policy_that_crashes_is_503_and_no_trace(gw: Harness) -> None:
    def broken(doc: Any) -> Any:
        raise RuntimeError("secret internal detail")

    gw.policy.rules = broken
    async with gw.client.get(f"{gw.url}/zones/transport/x", headers=gw.token()) as resp:
        assert resp.status == 503
        text = await resp.text()
    assert "secret internal detail" not in text and "Traceback" not in text


@pytest.mark.parametrize(("obligations", "status", "header"), [
    ({"step_up": True}, 401, "insufficient_user_authentication"),
    ({"headers": {"X-Zonegate-Assertion": "x"}}, 403, None),
])
async def test_obligations_refuse(gw: Harness, obligations: dict[str, Any], status: int,
                                  header: str | None) -> None:
    gw.policy.rules = lambda doc: {"allow": True, "obligations": obligations}
    async with gw.client.get(f"{gw.url}/zones/transport/x", headers=gw.token()) as resp:
        assert resp.status == status
        if header:
            assert header in resp.headers["WWW-Authenticate"]
    assert gw.upstream.seen == []


async def test_obligation_headers_reach_upstream(gw: Harness) -> None:
    gw.policy.rules = lambda doc: {"allow": True, "obligations": {
        "headers": {"x-zonegate-break-glass": "fire on ward 3"}}}
    async with gw.client.get(f"{gw.url}/zones/transport/x", headers=gw.token()) as resp:
        assert resp.status == 200
    seen = dict((k.lower(), v) for k, v in gw.upstream.seen[-1]["headers"])
    assert seen["x-zonegate-break-glass"] == "fire on ward 3"


async def test_rate_limit_obligation_gives_429(gw: Harness) -> None:
    gw.policy.rules = lambda doc: {"allow": True, "obligations": {"rate_limit": 6}}
    statuses = []
    for _ in range(3):
        async with gw.client.get(f"{gw.url}/zones/transport/x", headers=gw.token()) as resp:
            statuses.append(resp.status)
            retry = resp.headers.get("Retry-After")
    # 6 per minute with a 10 s burst: one request, then wait
    assert statuses == [200, 429, 429]
    assert retry is not None and int(retry) >= 1


async def test_policy_input_is_what_upstream_gets(gw: Harness) -> None:
    raw = (b"GET /zones//transport/./a/../records/%E5%BC%A0?q=%20x HTTP/1.1\r\n"
           b"Host: gw\r\nConnection: close\r\n"
           + f"Authorization: {gw.token()['Authorization']}\r\n\r\n".encode())
    response = await raw_http(gw.port, raw)
    assert status_of(response) == 200
    seen_path = gw.policy.seen[-1]["request"]["path"]  # type: ignore[index]
    assert seen_path == "/zones/transport/records/张"
    assert gw.upstream.seen[-1]["raw_path"] == "/zones/transport/records/%E5%BC%A0?q=%20x"


async def test_dlp_masks_resident_id_for_l3_caller(gw: Harness) -> None:
    async with gw.client.get(f"{gw.url}/zones/health/records/7",
                             headers=gw.token("doctor", clearance="L3")) as resp:
        assert resp.status == 200
        body = await resp.json()
        assert int(resp.headers["Content-Length"]) == len(await resp.read())
    assert body["resident_id"] == "110105********002X"
    assert body["name"] == "张三"
    event = gw.audit_events()[-1]
    assert (event["response_level"], event["dlp"]) == ("L4", "masked")


async def test_dlp_passes_for_l4_caller(gw: Harness) -> None:
    async with gw.client.get(f"{gw.url}/zones/health/records/7", headers=gw.token()) as resp:
        body = await resp.json()
    assert body["resident_id"] == RESIDENT_ID
    assert gw.audit_events()[-1]["dlp"] == "passed"


@pytest.mark.parametrize(("name", "status", "check"), [
    ("text", 200, lambda b: b"110105********002X" in b and RESIDENT_ID.encode() not in b),
    ("not-json", 200, lambda b: RESIDENT_ID.encode() not in b),
    ("blob", 200, lambda b: RESIDENT_ID.encode() in b),  # other types stream untouched
    ("xml", 200, lambda b: b"<id>110105********002X</id>" in b),
    ("untyped", 200, lambda b: RESIDENT_ID.encode() not in b and b"110105****" in b),
    ("untyped-binary", 403, lambda b: b"response-uninspectable" in b),
    ("big", 403, lambda b: b"response-uninspectable" in b),
    ("big-chunked", 403, lambda b: b"response-uninspectable" in b),
    ("gzip", 403, lambda b: b"response-uninspectable" in b),
])
async def test_dlp_content_handling_for_l3_caller(gw: Harness, name: str, status: int,
                                                  check: Any) -> None:
    async with gw.client.get(f"{gw.url}/zones/health/{name}",
                             headers=gw.token("doctor", clearance="L3")) as resp:
        assert resp.status == status
        assert check(await resp.read())


async def test_oversize_json_streams_when_zone_within_clearance(gw: Harness) -> None:
    async with gw.client.get(f"{gw.url}/zones/transport/big", headers=gw.token()) as resp:
        assert resp.status == 200
        assert len(json.loads(await resp.read())) == 200


async def test_block_mode_refuses_instead_of_masking(harness_factory: Any) -> None:
    gw: Harness = await harness_factory(dlp_mode={"health": "block"})
    async with gw.client.get(f"{gw.url}/zones/health/records/7",
                             headers=gw.token("doctor", clearance="L3")) as resp:
        assert resp.status == 403
        assert (await resp.json())["reasons"] == ["response-above-clearance"]
    assert gw.audit_events()[-1]["response_level"] == "L4"


async def test_volume_above_clearance_is_refused_even_after_masking(gw: Harness) -> None:
    # Masking the one resident ID leaves 150 people's phone numbers: still L4 by volume, so
    # the masked body must not be released to an L3 caller (nor is the one without the ID)
    async with gw.client.get(f"{gw.url}/zones/health/phone-book",
                             headers=gw.token("doctor", clearance="L3")) as resp:
        assert resp.status == 403
        body = await resp.read()
    assert json.loads(body)["reasons"] == ["response-above-clearance"]
    assert PHONE_BOOK[0].encode() not in body
    event = gw.audit_events()[-1]
    assert (event["response_level"], event["dlp"]) == ("L4", "blocked")
    async with gw.client.get(f"{gw.url}/zones/health/phone-book", headers=gw.token()) as resp:
        assert resp.status == 200  # an L4 caller reads it whole
        assert (await resp.json())["phones"] == PHONE_BOOK


@pytest.mark.parametrize(("decision", "mode", "ready"), [
    ("zonegate/authz/decision", "ok", True),
    ("zonegate/authz/decision", "error", False),  # OPA up but failing
    ("zonegate/authz/no_such_rule", "ok", False),  # OPA up, bundle not loaded: undefined
])
async def test_readyz_asks_a_remote_pdp(gw: Harness, decision: str, mode: str,
                                        ready: bool) -> None:
    from gateway.pdp import OPAEngine
    from tests.gateway.pdp.conftest import POLICIES
    from tests.gateway.pdp.opa_standin import OPAStandIn

    server = OPAStandIn(POLICIES, mode=mode)  # the OPA Data API stand-in (no OPA here)
    await server.start()
    engine = OPAEngine(server.url, decision, timeout_seconds=5)
    try:
        gw.gateway.set_engine(engine)
        async with gw.client.get(f"{gw.url}/readyz") as resp:
            body = await resp.json()
        assert (resp.status == 200) is ready, body
        if not ready:
            assert body["reasons"] == ["pdp-unavailable"] and body["pdp"]
    finally:
        await engine.close()
        await server.stop()


@pytest.mark.parametrize(("allowed", "status"), [("127.0.0.1/32", 200), ("10.9.0.0/16", 404)])
async def test_metrics_only_for_the_listed_peers(harness_factory: Any, allowed: str,
                                                 status: int) -> None:
    gw: Harness = await harness_factory(config_extra=f'ingress: {{metrics_from: ["{allowed}"]}}')
    async with gw.client.get(f"{gw.url}/metrics") as resp:
        assert resp.status == status
        body = await resp.text()
    assert ("zonegate_requests_total" in body) is (status == 200)
    async with gw.client.get(f"{gw.url}/healthz") as resp:
        assert resp.status == 200  # health stays open for probes


async def test_reserved_endpoints(gw: Harness) -> None:
    async with gw.client.get(f"{gw.url}/healthz") as resp:
        assert resp.status == 200
    async with gw.client.get(f"{gw.url}/readyz") as resp:
        assert resp.status == 200
        assert (await resp.json())["policy_revision"] == "scripted-1"
    gw.gateway.set_engine(None)
    async with gw.client.get(f"{gw.url}/readyz") as resp:
        assert resp.status == 503
        assert (await resp.json())["reasons"] == ["no-active-policy"]
    async with gw.client.get(f"{gw.url}/zones/transport/x", headers=gw.token()) as resp:
        assert resp.status == 503


async def test_metrics_count_requests_and_decisions(gw: Harness) -> None:
    for user in ("doctor", "engineer"):
        async with gw.client.get(f"{gw.url}/zones/health/records/1", headers=gw.token(user)):
            pass
    async with gw.client.get(f"{gw.url}/metrics") as resp:
        text = await resp.text()
    assert 'zonegate_requests_total{status="200",zone="health"} 1.0' in text
    assert 'zonegate_decisions_total{reason="zone-not-permitted",result="deny"} 1.0' in text
    assert "zonegate_request_duration_seconds_bucket" in text
    assert "zonegate_audit_records_total 2.0" in text


async def test_head_and_methods_pass_through(gw: Harness) -> None:
    async with gw.client.head(f"{gw.url}/zones/transport/records/1",
                              headers=gw.token()) as resp:
        assert resp.status == 200
        assert await resp.read() == b""
    async with gw.client.post(f"{gw.url}/zones/transport/x", data=b"payload",
                              headers=gw.token()) as resp:
        assert resp.status == 200
        assert (await resp.json())["body"] == "payload"
    assert [s["method"] for s in gw.upstream.seen] == ["HEAD", "POST"]


def test_json_logs_are_one_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from gateway.ingress.logs import configure_logging

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("info")
        logging.getLogger("zonegate.test").info("hello %s", "world",
                                                extra={"request_id": "r1"})
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
    line = capsys.readouterr().err.strip()
    doc = json.loads(line)
    assert (doc["message"], doc["request_id"], doc["level"]) == ("hello world", "r1", "info")
