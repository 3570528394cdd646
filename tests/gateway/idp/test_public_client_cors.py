"""The console's sign-in: the public client `zonegate-console` (password grant, no secret)
and CORS on /token for configured origins only, over real HTTP."""

from __future__ import annotations

import aiohttp
import pytest

from gateway.idp import DevIdP, demo_config, parse_idp_config
from gateway.idp.errors import IdPConfigError
from tests.gateway.idp.test_token_endpoint import basic, post_token, verify

CONSOLE = "https://127.0.0.1:8444"  # demo.yaml's cors_origins
PASSWORD = {"grant_type": "password", "username": "analyst",
            "password": "analyst-demo-password"}


@pytest.mark.parametrize("secret_field", [None, ""])
async def test_the_console_signs_in_without_a_secret(
        http: aiohttp.ClientSession, idp: DevIdP, secret_field: str | None) -> None:
    form = {**PASSWORD, "client_id": "zonegate-console"}
    if secret_field is not None:
        form["client_secret"] = secret_field  # what the console's form sends
    status, body, response = await post_token(http, idp, form, {"Origin": CONSOLE})
    assert status == 200, body
    assert response.headers["Access-Control-Allow-Origin"] == CONSOLE
    assert "Origin" in response.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in response.headers
    claims = await verify(http, idp, str(body["access_token"]))
    assert claims["client_id"] == "zonegate-console"
    assert claims["sub"] == "analyst" and claims["roles"] == ["soc-analyst"]


@pytest.mark.parametrize(("form", "headers", "status", "error"), [
    ({**PASSWORD, "client_id": "zonegate-console", "client_secret": "guessed-secret-123"},
     None, 401, "invalid_client"),
    (PASSWORD, basic("zonegate-console", "anything-at-all-123"), 401, "invalid_client"),
    (PASSWORD, basic("zonegate-console", ""), 401, "invalid_client"),
    ({"grant_type": "client_credentials", "client_id": "zonegate-console"}, None, 400,
     "unauthorized_client"),
    ({**PASSWORD, "client_id": "zonegate-console", "password": "wrong"}, None, 400,
     "invalid_grant"),
    # a confidential client cannot drop its secret by acting public
    ({**PASSWORD, "client_id": "zonegate-cli"}, None, 401, "invalid_client"),
    ({**PASSWORD, "client_id": "zonegate-cli", "client_secret": ""}, None, 401,
     "invalid_client"),
])
async def test_what_the_public_client_may_not_do(
        http: aiohttp.ClientSession, idp: DevIdP, form: dict[str, str],
        headers: dict[str, str] | None, status: int, error: str) -> None:
    got, body, _ = await post_token(http, idp, form, headers)
    assert (got, body["error"]) == (status, error)


async def _preflight(http: aiohttp.ClientSession, idp: DevIdP, origin: str,
                     method: str = "POST") -> aiohttp.ClientResponse:
    async with http.options(idp.token_endpoint, headers={
            "Origin": origin, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type"}) as response:
        await response.read()
        return response


async def test_preflight_from_the_console_origin(http: aiohttp.ClientSession,
                                                 idp: DevIdP) -> None:
    response = await _preflight(http, idp, CONSOLE)
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == CONSOLE
    assert response.headers["Access-Control-Allow-Methods"] == "POST"
    assert response.headers["Access-Control-Allow-Headers"].lower() == "content-type"


@pytest.mark.parametrize(("origin", "method"), [
    ("https://evil.example", "POST"),
    ("https://127.0.0.1:8445", "POST"),  # another port is another origin
    ("http://127.0.0.1:8444", "POST"),  # another scheme too
    ("null", "POST"),
    (CONSOLE, "DELETE"),
])
async def test_preflight_from_elsewhere_is_refused(http: aiohttp.ClientSession, idp: DevIdP,
                                                   origin: str, method: str) -> None:
    response = await _preflight(http, idp, origin, method)
    assert response.status == 403
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_a_token_answer_to_another_origin_carries_no_cors_header(
        http: aiohttp.ClientSession, idp: DevIdP) -> None:
    form = {**PASSWORD, "client_id": "zonegate-console"}
    status, _, response = await post_token(http, idp, form, {"Origin": "https://evil.example"})
    assert status == 200  # curl would get it; a browser page at evil.example cannot read it
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_origins_come_from_the_configuration(http: aiohttp.ClientSession) -> None:
    config = demo_config().model_copy(update={"cors_origins": ("https://127.0.0.1:9443",)})
    async with DevIdP.start(config, "127.0.0.1", 0) as idp:
        assert (await _preflight(http, idp, "https://127.0.0.1:9443")).status == 204
        assert (await _preflight(http, idp, CONSOLE)).status == 403
        async with http.get(f"{idp.issuer}/.well-known/openid-configuration") as response:
            discovery = await response.json()
    assert "none" in discovery["token_endpoint_auth_methods_supported"]


@pytest.mark.parametrize(("text", "message"), [
    ("clients:\n  c:\n    public: true\n    secret: sixteen-chars-long\n    grants: [password]\n",
     "a public client has no secret"),
    ("clients:\n  c:\n    public: true\n    grants: [password, client_credentials]\n",
     "only the password grant"),
    ("clients:\n  c:\n    public: true\n", "only the password grant"),
    ("clients:\n  c:\n    grants: [password]\n", "needs a secret"),
    ("cors_origins: ['*']\n", "cors_origins.0: must be an origin"),
    ("cors_origins: ['https://console.example/']\n", "must be an origin"),
    ("cors_origins: ['https://console.example/app']\n", "must be an origin"),
    ("cors_origins: ['ftp://console.example']\n", "must be an origin"),
    ("cors_origins: ['https://user@console.example']\n", "must be an origin"),
])
def test_bad_public_clients_and_origins_are_refused(text: str, message: str) -> None:
    with pytest.raises(IdPConfigError, match=message):
        parse_idp_config(text, "idp.yaml")


def test_good_origins_are_accepted() -> None:
    config = parse_idp_config("cors_origins: ['https://console.example', "
                              "'http://127.0.0.1:8444', 'https://[::1]:8444']\n")
    assert len(config.cors_origins) == 3
