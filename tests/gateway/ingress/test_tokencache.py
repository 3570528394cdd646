"""The verified-identity cache in front of the real Authenticator and dev IdP tokens."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.config import parse_config
from gateway.identity import (
    Authenticated,
    GatewayAuthenticator,
    InvalidCredentials,
    Presented,
    build_authenticator,
)
from gateway.idp import DevIdP, demo_config
from gateway.ingress.tokencache import CachedAuthenticator


class Counting:
    """Counts calls into the real authenticator."""

    def __init__(self, inner: GatewayAuthenticator) -> None:
        self.inner = inner
        self.calls = 0

    async def authenticate(self, presented: Presented) -> Authenticated:
        self.calls += 1
        return await self.inner.authenticate(presented)

    async def close(self) -> None:
        await self.inner.close()


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def setup() -> AsyncIterator[tuple[DevIdP, Counting, CachedAuthenticator, Clock]]:
    async with DevIdP.start(demo_config()) as idp:
        config = parse_config(f"""trust_domain: city.example
identity:
  oidc: [{{issuer: "{idp.issuer}", audience: zonegate, jwks_uri: "{idp.jwks_uri}"}}]
""")
        counting = Counting(build_authenticator(config))
        clock = Clock()
        hits: list[bool] = []
        cached = CachedAuthenticator(counting, ttl=30, max_entries=2, clock=clock,
                                     on_lookup=hits.append)
        yield idp, counting, cached, clock
        await cached.close()


def _bearer(token: str, ip: str = "127.0.0.1") -> Presented:
    return Presented(authorization=f"Bearer {token}", peer_ip=ip)


async def test_same_token_verified_once_within_ttl(setup: Any) -> None:
    idp, counting, cached, clock = setup
    token = idp.mint(user="doctor")
    first = await cached.authenticate(_bearer(token))
    second = await cached.authenticate(_bearer(token))
    assert first == second and first.subject.id == "doctor"
    assert counting.calls == 1
    clock.now += 31
    await cached.authenticate(_bearer(token))
    assert counting.calls == 2


async def test_entry_never_outlives_the_token(setup: Any) -> None:
    idp, counting, cached, clock = setup
    token = idp.mint(user="doctor", exp=int(clock.now) + 5)
    await cached.authenticate(_bearer(token))
    await cached.authenticate(_bearer(token))
    assert counting.calls == 1
    clock.now += 6  # past exp (but within ttl): the cache must ask again
    await cached.authenticate(_bearer(token))
    assert counting.calls == 2


async def test_failures_are_not_cached(setup: Any) -> None:
    _, counting, cached, _ = setup
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            await cached.authenticate(_bearer("not.a.token"))
    assert counting.calls == 2


@pytest.mark.parametrize("change", ["peer_ip", "token"])
async def test_anything_presented_differently_is_a_miss(setup: Any, change: str) -> None:
    idp, counting, cached, _ = setup
    token = idp.mint(user="doctor")
    await cached.authenticate(_bearer(token))
    other = _bearer(token, "127.0.0.2") if change == "peer_ip" else _bearer(
        idp.mint(user="engineer"))
    result = await cached.authenticate(other)
    assert counting.calls == 2
    assert result.subject.id == ("doctor" if change == "peer_ip" else "engineer")


async def test_anonymous_is_not_cached_and_memory_is_bounded(setup: Any) -> None:
    idp, counting, cached, _ = setup
    await cached.authenticate(Presented(peer_ip="127.0.0.1"))
    await cached.authenticate(Presented(peer_ip="127.0.0.1"))
    assert counting.calls == 2
    tokens = [idp.mint(user=user) for user in ("doctor", "engineer", "analyst")]
    for token in tokens:
        await cached.authenticate(_bearer(token))
    await cached.authenticate(_bearer(tokens[0]))  # evicted: only two entries kept
    assert counting.calls == 2 + 3 + 1
