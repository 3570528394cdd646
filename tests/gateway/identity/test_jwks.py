"""The JWKS cache against real loopback servers: flood bound, outage, rotation, discovery."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from gateway.identity import InvalidCredentials, Presented
from gateway.idp import DevIdP, demo_config
from tests.gateway.identity.conftest import FakeClock, MakeAuth


def bearer(token: str) -> Presented:
    return Presented(authorization=f"Bearer {token}")


def unknown_kid_token(idp: DevIdP) -> str:
    return idp.mint(user="analyst", header={"kid": secrets.token_urlsafe(8)})


async def test_concurrent_unknown_kid_flood_costs_one_fetch(
        idp: DevIdP, make_auth: MakeAuth, clock: FakeClock) -> None:
    auth = make_auth(idp.issuer)
    await auth.authenticate(bearer(idp.mint(user="analyst")))
    assert idp.jwks_fetches == 1
    clock.advance(60)  # past the cooldown: exactly one refetch is allowed
    results = await asyncio.gather(
        *(auth.authenticate(bearer(unknown_kid_token(idp))) for _ in range(200)),
        return_exceptions=True,
    )
    assert all(isinstance(r, InvalidCredentials) and r.code == "unknown-key" for r in results)
    assert idp.jwks_fetches == 2


async def test_sequential_unknown_kid_flood_is_rate_limited(
        idp: DevIdP, make_auth: MakeAuth, clock: FakeClock) -> None:
    auth = make_auth(idp.issuer)
    for round_ in range(3):
        for _ in range(50):
            with pytest.raises(InvalidCredentials, match="unknown-key"):
                await auth.authenticate(bearer(unknown_kid_token(idp)))
        assert idp.jwks_fetches == round_ + 1  # one fetch per cooldown window, not per token
        clock.advance(10)


async def test_keys_are_cached_for_the_ttl(idp: DevIdP, make_auth: MakeAuth,
                                           clock: FakeClock) -> None:
    auth = make_auth(idp.issuer)
    for _ in range(20):
        await auth.authenticate(bearer(idp.mint(user="officer")))
    assert idp.jwks_fetches == 1
    clock.advance(301)
    await auth.authenticate(bearer(idp.mint(user="officer")))
    assert idp.jwks_fetches == 2


async def test_idp_down_keeps_stale_keys_and_fails_closed_on_unknown_kid(
        make_auth: MakeAuth, clock: FakeClock) -> None:
    async with DevIdP.start(demo_config()) as idp:
        auth = make_auth(idp.issuer)
        token = idp.mint(user="doctor")
        stranger = unknown_kid_token(idp)
        await auth.authenticate(bearer(token))
    # the IdP is gone: the port refuses connections
    clock.advance(3600)  # far past TTL and cooldown
    assert (await auth.authenticate(bearer(token))).subject.clearance == "L4"
    with pytest.raises(InvalidCredentials, match="unknown-key"):
        await auth.authenticate(bearer(stranger))
    assert auth.tokens is not None
    stats = auth.tokens.cache(idp.issuer).stats
    assert stats.failures >= 1 and stats.fetches >= 2


async def test_idp_never_reached_is_jwks_unavailable(make_auth: MakeAuth) -> None:
    async with DevIdP.start(demo_config()) as idp:
        token = idp.mint(user="doctor")
        issuer = idp.issuer
    auth = make_auth(issuer)
    with pytest.raises(InvalidCredentials, match="jwks-unavailable"):
        await auth.authenticate(bearer(token))


@pytest.fixture
async def shifted_idp() -> AsyncIterator[tuple[DevIdP, list[float]]]:
    """An IdP whose clock the test can move (starts 200 s in the past)."""
    offset = [-200.0]
    async with DevIdP.start(demo_config(), clock=lambda: time.time() + offset[0]) as idp:
        yield idp, offset


async def test_rotation_published_before_use_is_picked_up_by_ttl(
        shifted_idp: tuple[DevIdP, list[float]], make_auth: MakeAuth, clock: FakeClock) -> None:
    idp, offset = shifted_idp
    auth = make_auth(idp.issuer)
    old_token = idp.mint(user="analyst")
    await auth.authenticate(bearer(old_token))
    new_key = idp.rotate(lead=60)
    assert idp.ring.signing_key().kid != new_key.kid  # published, not yet signing
    clock.advance(301)  # the gateway's TTL refresh sees both keys
    await auth.authenticate(bearer(old_token))
    fetches = idp.jwks_fetches
    offset[0] += 61  # the new key starts signing
    new_token = idp.mint(user="analyst")
    assert new_token.split(".")[0] != old_token.split(".")[0]
    assert (await auth.authenticate(bearer(new_token))).subject.id == "analyst"
    assert (await auth.authenticate(bearer(old_token))).subject.id == "analyst"
    assert idp.jwks_fetches == fetches  # no refetch was needed


async def test_immediate_rotation_is_picked_up_by_unknown_kid_refetch(
        idp: DevIdP, make_auth: MakeAuth, clock: FakeClock) -> None:
    auth = make_auth(idp.issuer)
    old_token = idp.mint(user="analyst")
    await auth.authenticate(bearer(old_token))
    idp.rotate(lead=0)
    clock.advance(11)  # past the cooldown since the first fetch
    assert (await auth.authenticate(bearer(idp.mint(user="analyst")))).subject.id == "analyst"
    assert (await auth.authenticate(bearer(old_token))).subject.id == "analyst"
    assert idp.jwks_fetches == 2


async def test_discovery_finds_the_jwks(idp: DevIdP, make_auth: MakeAuth) -> None:
    auth = make_auth(idp.issuer)  # no jwks_uri: discovery
    await auth.authenticate(bearer(idp.mint(user="analyst")))
    assert auth.tokens is not None
    assert auth.tokens.cache(idp.issuer).stats.discovery_fetches == 1


async def test_configured_jwks_uri_skips_discovery(idp: DevIdP, make_auth: MakeAuth) -> None:
    auth = make_auth(idp.issuer, jwks_uri=idp.jwks_uri)
    await auth.authenticate(bearer(idp.mint(user="analyst")))
    assert auth.tokens is not None
    assert auth.tokens.cache(idp.issuer).stats.discovery_fetches == 0


@dataclass
class Scripted:
    """A loopback server answering fixed documents the test sets."""

    url: str = ""
    routes: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    hits: int = 0


@pytest.fixture
async def scripted() -> AsyncIterator[Scripted]:
    state = Scripted()

    async def handle(request: web.Request) -> web.Response:
        state.hits += 1
        status, body = state.routes.get(request.path, (404, b"{}"))
        return web.Response(status=status, body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    state.url = f"http://{host}:{port}"
    yield state
    await runner.cleanup()


BAD_KEY_SETS = [
    ("not-json", 200, b"<html>"),
    ("http-500", 500, b"{}"),
    ("no-keys-member", 200, b'{"k": []}'),
    ("keys-not-a-list", 200, b'{"keys": {}}'),
    ("oversized", 200, b'{"keys": [' + b'{"kty":"EC"},' * 30000 + b'{}]}'),
]


@pytest.mark.parametrize(("status", "body"), [(s, b) for _, s, b in BAD_KEY_SETS],
                         ids=[n for n, _, _ in BAD_KEY_SETS])
async def test_bad_key_set_fails_closed(idp: DevIdP, scripted: Scripted, make_auth: MakeAuth,
                                        status: int, body: bytes) -> None:
    scripted.routes["/jwks.json"] = (status, body)
    auth = make_auth(idp.issuer, jwks_uri=f"{scripted.url}/jwks.json")
    with pytest.raises(InvalidCredentials, match="jwks-unavailable"):
        await auth.authenticate(bearer(idp.mint(user="analyst")))
    assert scripted.hits == 1


async def test_symmetric_keys_in_the_set_are_ignored(idp: DevIdP, scripted: Scripted,
                                                     make_auth: MakeAuth) -> None:
    kid = idp.ring.signing_key().kid
    oct_key = {"kty": "oct", "kid": kid, "k": "c2VjcmV0"}
    scripted.routes["/jwks.json"] = (200, json.dumps({"keys": [oct_key]}).encode())
    auth = make_auth(idp.issuer, jwks_uri=f"{scripted.url}/jwks.json")
    with pytest.raises(InvalidCredentials, match="unknown-key"):
        await auth.authenticate(bearer(idp.mint(user="analyst")))


@pytest.mark.parametrize("document", [
    b'{"issuer": "https://someone-else.example", "jwks_uri": "http://127.0.0.1:9/j"}',
    b'{"jwks_uri": "http://127.0.0.1:9/j"}',
    b'["not", "an", "object"]',
], ids=["other-issuer", "no-issuer", "not-an-object"])
async def test_bad_discovery_fails_closed(idp: DevIdP, scripted: Scripted, make_auth: MakeAuth,
                                          document: bytes) -> None:
    scripted.routes["/.well-known/openid-configuration"] = (200, document)
    auth = make_auth(scripted.url)
    token = idp.mint(user="analyst", iss=scripted.url)
    with pytest.raises(InvalidCredentials, match="jwks-unavailable"):
        await auth.authenticate(bearer(token))


async def test_stale_keys_expire_after_max_stale(make_auth: MakeAuth, clock: FakeClock) -> None:
    async with DevIdP.start(demo_config()) as idp:
        auth = make_auth(idp.issuer)
        token = idp.mint(user="doctor")
        await auth.authenticate(bearer(token))
    clock.advance(300 + 86400 - 1)
    assert (await auth.authenticate(bearer(token))).subject.id == "doctor"
    clock.advance(2)
    with pytest.raises(InvalidCredentials, match="jwks-unavailable"):
        await auth.authenticate(bearer(token))
