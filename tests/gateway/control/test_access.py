"""Authentication and authorisation over real HTTP: the access table covers every route,
every role sees exactly what the table grants, bad credentials are 401, and every refusal
is problem JSON."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from starlette.routing import Mount, Route

from gateway.control.access import ACCESS, AUTHENTICATED, PUBLIC
from gateway.identity import build_authenticator
from gateway.idp.keys import KeyRing
from tests.gateway.control.conftest import MONITOR_ID, Stack, control_config

ROLE_OF = {"analyst": "soc-analyst", "officer": "security-officer", "admin": "admin",
           "doctor": "doctor"}
PARAMS = {"alert_id": "no-such-alert", "device_id": "no-such-device", "serial": "zz",
          "decision_id": "no-such-decision", "revision": "no-such-revision"}
# endpoints whose success would change what other tests see; an allowed call gets a body
# that the endpoint refuses (422), which still proves that authorisation let it through
GUARDED = sorted(
    (method, path) for (method, path), roles in ACCESS.items()
    if roles is not PUBLIC and roles is not AUTHENTICATED
)


def assert_problem(response: httpx.Response, status: int,
                   code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert re.fullmatch(r"[a-z][a-z0-9-]*", body["code"])
    assert "Traceback" not in response.text and 'File "' not in response.text
    if code is not None:
        assert body["code"] == code, body
    return body


def test_every_route_is_in_the_access_table(stack: Stack) -> None:
    spec = stack.client("officer").get("/openapi.json").json()
    documented = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    missing = documented - set(ACCESS)
    assert not missing, f"routes without an access rule: {sorted(missing)}"
    # and the table names no route the app does not have (the policy routes are the
    # policy helper's: checked there)
    own = {k for k in ACCESS if not k[1].startswith(("/api/policies", "/bundles/"))}
    builtin = {("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/docs/oauth2-redirect"),
               ("GET", "/redoc"), ("GET", "/console")}
    stale = own - documented - builtin
    assert not stale, f"access rules for routes that do not exist: {sorted(stale)}"


def test_app_routes_are_all_plain_routes_or_the_console_mount(stack: Stack) -> None:
    # the access middleware matches flat routes; a nested router would hide its endpoints
    from gateway.control.app import build_app

    config = control_config(stack.idp.issuer)
    app = build_app(config, store=stack.store, authenticator=build_authenticator(config))
    for route in app.router.routes:
        assert isinstance(route, Route | Mount), type(route)
        if isinstance(route, Mount):
            assert route.path == "/console"


def _fill(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PARAMS[m.group(1)], path)


@pytest.mark.parametrize("user", ["analyst", "officer", "admin", "doctor"])
def test_role_matrix(stack: Stack, user: str) -> None:
    client = stack.client(user)
    for method, path in GUARDED:
        allowed = ACCESS[(method, path)]
        response = client.request(method, _fill(path), json={"bogus-field": 1},
                                  headers={"Content-Type": "application/json"})
        if ROLE_OF[user] in allowed:
            assert response.status_code not in (401, 403), (method, path, response.text)
            assert response.status_code < 500, (method, path, response.text)
        else:
            body = assert_problem(response, 403, "forbidden")
            assert path in body["detail"]


@pytest.mark.parametrize("path", ["/healthz", "/openapi.json", "/docs", "/redoc", "/crl.pem"])
def test_public_endpoints_need_no_credentials(stack: Stack, path: str) -> None:
    assert stack.client(None).get(path).status_code == 200


def test_authenticated_endpoint_answers_who_is_asking(stack: Stack) -> None:
    me = stack.client("admin").get("/api/me").json()
    assert me == {"actor": "admin", "kind": "user", "subject": "admin", "roles": ["admin"],
                  "spiffe_id": ""}
    # a valid token without control-plane roles is still a principal, with no roles here
    assert stack.client("doctor").get("/api/me").json()["roles"] == []


def _bad_tokens(stack: Stack) -> dict[str, str]:
    other = KeyRing("ES256", token_ttl=300)
    return {
        "garbage": "not-a-jwt",
        "expired": stack.idp.mint(user="officer", exp=1_000_000_000, iat=999_999_000),
        "wrong-audience": stack.idp.mint(user="officer", aud="somebody-else"),
        "unknown-key": stack.idp.mint(user="officer", key=other.signing_key()),
        "alg-none": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJvZmZpY2VyIn0.",
    }


@pytest.mark.parametrize("kind", ["garbage", "expired", "wrong-audience", "unknown-key",
                                  "alg-none"])
def test_bad_tokens_are_401_with_a_challenge(stack: Stack, kind: str) -> None:
    token = _bad_tokens(stack)[kind]
    response = stack.client(None).get("/api/alerts",
                                      headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_missing_credentials_is_401_before_the_body_is_read(stack: Stack) -> None:
    response = stack.client(None).post("/api/alerts", content=b"{" * 10)
    assert_problem(response, 401, "missing-credentials")


def test_duplicate_authorization_headers_are_refused(stack: Stack) -> None:
    token = stack.headers("officer")["Authorization"]
    response = stack.client(None).get(
        "/api/alerts", headers=[("Authorization", token), ("Authorization", token)])
    assert_problem(response, 400, "duplicate-header")


def test_monitor_certificate_is_the_ingester_and_nothing_else(stack: Stack) -> None:
    assert stack.pki is not None
    monitor = stack.client(None, cert=stack.pki.leaf("monitor"))
    me = monitor.get("/api/me").json()
    assert me["subject"] == MONITOR_ID and me["roles"] == ["alert-ingester"]
    assert_problem(monitor.get("/api/alerts"), 403, "forbidden")
    # another workload of the same CA is authenticated but may not ingest
    other = stack.client(None, cert=stack.pki.leaf("billing"))
    assert other.get("/api/me").json()["roles"] == []
    assert_problem(other.post("/api/alerts", json={}), 403, "forbidden")


def test_unknown_path_and_method_are_problems(stack: Stack) -> None:
    client = stack.client("officer")
    assert_problem(client.get("/api/nothing-here"), 404, "not-found")
    assert_problem(client.delete("/api/alerts"), 405, "method-not-allowed")


def test_console_static_files_are_public_and_read_only(stack: Stack) -> None:
    client = stack.client(None)
    response = client.get("/console/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert client.get("/console").status_code in (200, 307)  # redirected to /console/
    assert_problem(client.post("/console/", content=b"x"), 403, "no-access-rule")
