"""Malformed bearer tokens: always InvalidCredentials with a code, never another exception."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.identity import InvalidCredentials, Presented
from gateway.identity.tokens import MAX_TOKEN_BYTES, BearerVerifier, IssuerPolicy
from gateway.idp import DevIdP
from tests.gateway.identity.conftest import MakeAuth, b64, b64json

VECTORS = json.loads(
    (Path(__file__).parents[2] / "vectors" / "identity" / "malformed_tokens.json").read_text()
)["vectors"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
async def test_malformed_vector(idp: DevIdP, make_auth: MakeAuth,
                                vector: dict[str, str]) -> None:
    auth = make_auth(idp.issuer)
    with pytest.raises(InvalidCredentials) as caught:
        await auth.authenticate(Presented(authorization=vector["authorization"]))
    assert caught.value.code == vector["code"], caught.value


async def test_huge_token_is_refused_before_parsing(idp: DevIdP, make_auth: MakeAuth) -> None:
    token = idp.mint(user="analyst", padding="x" * MAX_TOKEN_BYTES)
    with pytest.raises(InvalidCredentials, match="longer than"):
        await make_auth(idp.issuer).authenticate(Presented(authorization=f"Bearer {token}"))
    assert idp.jwks_fetches == 0  # refused before any key lookup


@pytest.fixture(scope="module")
def check() -> Iterator[Callable[[str], None]]:
    """Verify on one event loop: random input must give InvalidCredentials, nothing else."""
    runner = asyncio.Runner()
    # an issuer whose keys are never fetched: random input must fail before that
    verifier = runner.run(_make_verifier())

    async def attempt(token: str) -> None:
        try:
            await verifier.verify(token)
        except InvalidCredentials:
            return
        raise AssertionError(f"accepted {token!r}")

    yield lambda token: runner.run(attempt(token))
    runner.run(verifier.close())
    runner.close()


async def _make_verifier() -> BearerVerifier:
    return BearerVerifier.create([IssuerPolicy(issuer="https://idp.test", audience="zonegate",
                                               jwks_uri="http://127.0.0.1:9/jwks.json")])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_fuzz_any_text(check: Callable[[str], None], token: str) -> None:
    check(token)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5),
                                                                       children, max_size=3),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header=json_values, payload=json_values, signature=st.binary(max_size=70))
def test_fuzz_structured_segments(check: Callable[[str], None], header: object,
                                  payload: object, signature: bytes) -> None:
    check(f"{b64json(header)}.{b64json(payload)}.{b64(signature)}")
