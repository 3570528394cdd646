"""The dev IdP over real HTTP: discovery, JWKS, the token endpoint's grants and refusals."""

from __future__ import annotations

import base64

import aiohttp
import jwt
import pytest

from gateway.idp import DevIdP

CLI = ("zonegate-cli", "zonegate-cli-dev-secret")
GATEWAY = ("zonegate", "zonegate-gateway-dev-secret")
DEMO_USERS = [
    ("analyst", ["soc-analyst"], ["soc"], "L3"),
    ("officer", ["security-officer"], ["security"], "L5"),
    ("doctor", ["doctor"], ["health"], "L4"),
    ("engineer", ["traffic-engineer"], ["transport"], "L2"),
]


def basic(client_id: str, secret: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


async def post_token(http: aiohttp.ClientSession, idp: DevIdP, form: dict[str, str],
                     headers: dict[str, str] | None = None) -> tuple[int, dict[str, object],
                                                                     aiohttp.ClientResponse]:
    async with http.post(idp.token_endpoint, data=form, headers=headers) as response:
        return response.status, await response.json(), response


async def verify(http: aiohttp.ClientSession, idp: DevIdP, token: str) -> dict[str, object]:
    """Verify independently of gateway/identity: PyJWT against the published JWKS."""
    async with http.get(idp.jwks_uri) as response:
        jwks = await response.json()
    header = jwt.get_unverified_header(token)
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    claims: dict[str, object] = jwt.decode(token, jwt.PyJWK(jwk), algorithms=[jwk["alg"]],
                                           audience="zonegate", issuer=idp.issuer)
    assert header["typ"] == "at+jwt"
    return claims


async def test_discovery_document(http: aiohttp.ClientSession, idp: DevIdP) -> None:
    async with http.get(f"{idp.issuer}/.well-known/openid-configuration") as response:
        document = await response.json()
    assert document["issuer"] == idp.issuer
    assert document["jwks_uri"] == idp.jwks_uri
    assert document["token_endpoint"] == idp.token_endpoint
    assert set(document["grant_types_supported"]) == {"client_credentials", "password"}


async def test_jwks_has_only_public_parts(http: aiohttp.ClientSession, idp: DevIdP) -> None:
    async with http.get(idp.jwks_uri) as response:
        (key,) = (await response.json())["keys"]
    assert set(key) == {"kty", "crv", "x", "y", "kid", "alg", "use"}
    assert (key["alg"], key["use"], key["crv"]) == ("ES256", "sig", "P-256")
    assert len(base64.urlsafe_b64decode(key["x"] + "==")) == 32


@pytest.mark.parametrize(("user", "roles", "groups", "clearance"), DEMO_USERS,
                         ids=[u[0] for u in DEMO_USERS])
async def test_password_grant_for_demo_users(http: aiohttp.ClientSession, idp: DevIdP, user: str,
                                             roles: list[str], groups: list[str],
                                             clearance: str) -> None:
    status, body, response = await post_token(http, idp, {
        "grant_type": "password", "username": user, "password": f"{user}-demo-password",
        "client_id": CLI[0], "client_secret": CLI[1]})
    assert status == 200, body
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    assert response.headers["Cache-Control"] == "no-store"
    claims = await verify(http, idp, str(body["access_token"]))
    assert (claims["sub"], claims["roles"], claims["groups"], claims["clearance"]) == (
        user, roles, groups, clearance)
    for name in ("iss", "aud", "exp", "iat", "jti", "client_id", "scope", "auth_time", "acr",
                 "amr"):
        assert name in claims, name
    assert claims["amr"] == ["pwd"] and claims["client_id"] == CLI[0]


async def test_client_credentials_with_basic_auth(http: aiohttp.ClientSession,
                                                  idp: DevIdP) -> None:
    status, body, _ = await post_token(http, idp, {"grant_type": "client_credentials"},
                                       basic(*GATEWAY))
    assert status == 200, body
    claims = await verify(http, idp, str(body["access_token"]))
    assert claims["sub"] == claims["client_id"] == "zonegate"
    assert claims["roles"] == ["gateway"] and "clearance" not in claims


async def test_scope_narrowing(http: aiohttp.ClientSession, idp: DevIdP) -> None:
    status, body, _ = await post_token(http, idp, {"grant_type": "client_credentials",
                                                   "scope": "zones"}, basic(*CLI))
    assert status == 200 and body["scope"] == "zones"


REFUSALS = [
    ("wrong-password", {"grant_type": "password", "username": "doctor", "password": "guess"},
     CLI, 400, "invalid_grant"),
    ("unknown-user", {"grant_type": "password", "username": "mallory", "password": "x"},
     CLI, 400, "invalid_grant"),
    ("empty-password", {"grant_type": "password", "username": "doctor", "password": ""},
     CLI, 400, "invalid_grant"),
    ("missing-username", {"grant_type": "password", "password": "x"}, CLI, 400,
     "invalid_request"),
    ("wrong-client-secret", {"grant_type": "client_credentials"},
     ("zonegate", "zonegate-gateway-dev-secreT"), 401, "invalid_client"),
    ("unknown-client", {"grant_type": "client_credentials"}, ("nobody", "x" * 20), 401,
     "invalid_client"),
    ("no-client-auth", {"grant_type": "client_credentials"}, None, 401, "invalid_client"),
    ("password-grant-not-allowed", {"grant_type": "password", "username": "doctor",
                                    "password": "doctor-demo-password"}, GATEWAY, 400,
     "unauthorized_client"),
    ("unsupported-grant", {"grant_type": "authorization_code", "code": "x"}, CLI, 400,
     "unsupported_grant_type"),
    ("scope-not-allowed", {"grant_type": "client_credentials", "scope": "admin"}, CLI, 400,
     "invalid_scope"),
]


@pytest.mark.parametrize(("form", "client", "status", "error"), [r[1:] for r in REFUSALS],
                         ids=[r[0] for r in REFUSALS])
async def test_refusals(http: aiohttp.ClientSession, idp: DevIdP, form: dict[str, str],
                        client: tuple[str, str] | None, status: int, error: str) -> None:
    got, body, response = await post_token(http, idp, form,
                                           basic(*client) if client else None)
    assert (got, body["error"]) == (status, error)
    assert "access_token" not in body
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert idp.tokens_issued == 0


async def test_secret_in_form_post(http: aiohttp.ClientSession, idp: DevIdP) -> None:
    good, _, _ = await post_token(http, idp, {"grant_type": "client_credentials",
                                              "client_id": CLI[0], "client_secret": CLI[1]})
    bad, body, _ = await post_token(http, idp, {"grant_type": "client_credentials",
                                                "client_id": CLI[0], "client_secret": "no"})
    assert (good, bad, body["error"]) == (200, 401, "invalid_client")


async def test_two_client_auth_methods_refused(http: aiohttp.ClientSession, idp: DevIdP) -> None:
    status, body, _ = await post_token(http, idp, {"grant_type": "client_credentials",
                                                   "client_secret": CLI[1]}, basic(*CLI))
    assert (status, body["error"]) == (400, "invalid_request")


@pytest.mark.parametrize("authorization", ["Bearer abc", "Basic !!!", "Basic " +
                                           base64.b64encode(b"no-colon").decode()])
async def test_malformed_client_authorization(http: aiohttp.ClientSession, idp: DevIdP,
                                              authorization: str) -> None:
    status, body, _ = await post_token(http, idp, {"grant_type": "client_credentials"},
                                       {"Authorization": authorization})
    assert (status, body["error"]) == (401, "invalid_client")


async def test_json_body_refused(http: aiohttp.ClientSession, idp: DevIdP) -> None:
    async with http.post(idp.token_endpoint, json={"grant_type": "client_credentials"},
                         headers=basic(*CLI)) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "invalid_request"


async def test_oversized_body_refused(http: aiohttp.ClientSession, idp: DevIdP) -> None:
    form = {"grant_type": "client_credentials", "pad": "x" * 100_000}
    async with http.post(idp.token_endpoint, data=form, headers=basic(*CLI)) as response:
        assert response.status in (400, 413)
    assert idp.tokens_issued == 0
