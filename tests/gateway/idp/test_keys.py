"""Key rotation: published before use, kept until its tokens expire; the admin endpoint."""

from __future__ import annotations

import base64

import aiohttp
import jwt
import pytest

from gateway.idp import DevIdP, demo_config
from gateway.idp.keys import KeyRing, generate_key, public_members, thumbprint


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_rotation_timeline() -> None:
    clock = Clock()
    ring = KeyRing("ES256", token_ttl=300, clock=clock)
    first = ring.signing_key()
    second = ring.rotate(lead=60)
    assert [k.kid for k in ring.published()] == [first.kid, second.kid]
    assert ring.signing_key() is first  # published, not yet used
    clock.now += 60
    assert ring.signing_key() is second
    clock.now += 300 + 59  # a token signed by `first` just before the switch may still live
    assert first.kid in {k.kid for k in ring.published()}
    clock.now += 2
    assert [k.kid for k in ring.published()] == [second.kid]


def test_negative_lead_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        KeyRing("ES256", token_ttl=300).rotate(lead=-1)


def test_ec_coordinates_are_full_length() -> None:
    """Authlib 1.6.12 drops leading zero bytes; our JWKs must not (RFC 7518 §6.2.1.2)."""
    short = None
    for _ in range(2000):
        key = generate_key("ES256")
        numbers = key.get_public_key().public_numbers()
        if numbers.x.bit_length() <= 248 or numbers.y.bit_length() <= 248:
            short = key
            break
    assert short is not None, "no short coordinate in 2000 keys (p ~ 1e-7)"
    members = public_members(short)
    for name in ("x", "y"):
        assert len(base64.urlsafe_b64decode(members[name] + "==")) == 32
    jwt.PyJWK(dict(members, alg="ES256"))  # PyJWT accepts it


def test_thumbprint_rfc7638_example() -> None:
    """RFC 7638 §3.1's RSA key has thumbprint NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs."""
    from authlib.jose import JsonWebKey

    n = ("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
         "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0"
         "_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWh"
         "AI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
    key = JsonWebKey.import_key({"kty": "RSA", "n": n, "e": "AQAB"})
    assert thumbprint(key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


async def test_admin_rotate_endpoint(idp: DevIdP) -> None:
    url = f"{idp.issuer}/admin/rotate"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, headers={"Authorization": "Bearer wrong"}) as response:
            assert response.status == 401
        async with http.post(url) as response:
            assert response.status == 401
        async with http.post(url, params={"lead": "-5"},
                             headers={"Authorization": "Bearer admin-token-for-tests"}) as resp:
            assert resp.status == 400
        assert idp.ring.rotations == 0
        async with http.post(url, params={"lead": "30"},
                             headers={"Authorization": "Bearer admin-token-for-tests"}) as resp:
            assert resp.status == 200
            kid = (await resp.json())["kid"]
        async with http.get(idp.jwks_uri) as response:
            kids = [k["kid"] for k in (await response.json())["keys"]]
    assert len(kids) == 2 and kids[-1] == kid
    assert idp.ring.signing_key().kid != kid


async def test_rs256_issuer() -> None:
    config = demo_config().model_copy(update={"algorithm": "RS256"})
    async with DevIdP.start(config) as idp, aiohttp.ClientSession() as http:
        async with http.get(idp.jwks_uri) as response:
            (key,) = (await response.json())["keys"]
        token = idp.mint(user="doctor")
    assert (key["kty"], key["alg"]) == ("RSA", "RS256")
    claims = jwt.decode(token, jwt.PyJWK(key), algorithms=["RS256"], audience="zonegate")
    assert claims["clearance"] == "L4"
