"""Bearer tokens from the real dev IdP over loopback HTTP: the good one and every bad kind."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.identity import InvalidCredentials, IssuerOptions, Presented
from gateway.idp import DevIdP
from gateway.idp.keys import SigningKey, generate_key, thumbprint
from tests.gateway.identity.conftest import MakeAuth, b64, b64json, claims_of, now, reassemble


def bearer(token: str) -> Presented:
    return Presented(authorization=f"Bearer {token}")


async def test_valid_token_gives_the_users_subject(idp: DevIdP, make_auth: MakeAuth) -> None:
    auth = make_auth(idp.issuer)
    result = await auth.authenticate(bearer(idp.mint(user="doctor")))
    subject = result.subject
    assert subject.authenticated and subject.type == "user"
    assert (subject.id, subject.issuer) == ("doctor", idp.issuer)
    assert (subject.roles, subject.groups, subject.clearance) == (("doctor",), ("health",), "L4")
    assert subject.amr == ("pwd",) and subject.acr == "urn:zonegate:acr:password"
    assert result.token_claims["sub"] == "doctor" and result.certificate is None


async def test_client_credentials_token_is_a_service(idp: DevIdP, make_auth: MakeAuth) -> None:
    result = await make_auth(idp.issuer).authenticate(bearer(idp.mint(client="zonegate")))
    assert result.subject.type == "service" and result.subject.roles == ("gateway",)


def _public_pem(idp: DevIdP) -> bytes:
    key = idp.ring.signing_key().key.get_public_key()
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def _hs256(idp: DevIdP, secret: bytes) -> str:
    good = idp.mint(user="analyst")
    header = {"alg": "HS256", "typ": "at+jwt", "kid": idp.ring.signing_key().kid}
    signing_input = f"{b64json(header)}.{good.split('.')[1]}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def _alg_none(idp: DevIdP) -> str:
    good = idp.mint(user="analyst")
    header = {"alg": "none", "typ": "at+jwt", "kid": idp.ring.signing_key().kid}
    return f"{b64json(header)}.{good.split('.')[1]}."


def _tampered(idp: DevIdP) -> str:
    good = idp.mint(user="engineer")
    payload = claims_of(good) | {"clearance": "L6"}
    return reassemble(good, payload=payload)


def _foreign_key(idp: DevIdP, *, reuse_kid: bool) -> str:
    key = generate_key("ES256")
    kid = idp.ring.signing_key().kid if reuse_kid else thumbprint(key)
    return idp.mint(user="analyst", key=SigningKey(kid=kid, key=key, active_from=0))


def _with_header(idp: DevIdP, **fields: object) -> str:
    """A good token whose header was edited after signing (authlib refuses to sign these)."""
    header = {"alg": "ES256", "typ": "at+jwt", "kid": idp.ring.signing_key().kid} | fields
    return reassemble(idp.mint(user="analyst"), header=header)


Maker = Callable[[DevIdP], str]
BAD_TOKENS: list[tuple[str, Maker, str]] = [
    ("alg-none", _alg_none, "alg-not-allowed"),
    ("hs256-public-pem-as-secret", lambda i: _hs256(i, _public_pem(i)), "alg-not-allowed"),
    ("hs256-jwk-json-as-secret",
     lambda i: _hs256(i, json.dumps(i.ring.signing_key().public_jwk("ES256")).encode()),
     "alg-not-allowed"),
    ("alg-es384-not-in-allow-list",
     lambda i: _with_header(i, alg="ES384"), "alg-not-allowed"),
    ("alg-rs256-header-on-ec-key", lambda i: _with_header(i, alg="RS256"), "key-mismatch"),
    ("expired", lambda i: i.mint(user="analyst", exp=now() - 3600, iat=now() - 7200,
                                 nbf=now() - 7200), "token-expired"),
    ("not-yet-valid", lambda i: i.mint(user="analyst", nbf=now() + 3600), "token-not-yet-valid"),
    ("issued-in-future", lambda i: i.mint(user="analyst", iat=now() + 3600),
     "token-not-yet-valid"),
    ("wrong-audience", lambda i: i.mint(user="analyst", aud="other-service"), "wrong-audience"),
    ("unknown-issuer", lambda i: i.mint(user="analyst", iss="https://evil.example"),
     "unknown-issuer"),
    ("typ-jwt", lambda i: i.mint(user="analyst", header={"typ": "JWT"}), "wrong-typ"),
    ("typ-missing", lambda i: i.mint(user="analyst", header={"typ": None}), "wrong-typ"),
    ("missing-jti", lambda i: i.mint(user="analyst", jti=None), "missing-claim"),
    ("missing-exp", lambda i: i.mint(user="analyst", exp=None), "missing-claim"),
    ("missing-sub", lambda i: i.mint(user="analyst", sub=None), "missing-claim"),
    ("missing-kid", lambda i: i.mint(user="analyst", header={"kid": None}), "missing-kid"),
    ("kid-not-a-string", lambda i: i.mint(user="analyst", header={"kid": 7}), "missing-kid"),
    ("tampered-payload", _tampered, "bad-signature"),
    ("unpublished-key", lambda i: _foreign_key(i, reuse_kid=False), "unknown-key"),
    ("foreign-key-published-kid", lambda i: _foreign_key(i, reuse_kid=True), "bad-signature"),
    ("crit-header", lambda i: _with_header(i, crit=["exp"], exp=0), "malformed-token"),
    ("bad-clearance", lambda i: i.mint(user="analyst", clearance="L9"), "bad-claim"),
    ("roles-not-a-list", lambda i: i.mint(user="analyst", roles=5), "bad-claim"),
    ("exp-not-a-number", lambda i: i.mint(user="analyst", exp="tomorrow"), "malformed-token"),
]


@pytest.mark.parametrize(("maker", "code"), [(m, c) for _, m, c in BAD_TOKENS],
                         ids=[n for n, _, _ in BAD_TOKENS])
async def test_bad_token_is_refused(idp: DevIdP, make_auth: MakeAuth, maker: Maker,
                                    code: str) -> None:
    auth = make_auth(idp.issuer)
    with pytest.raises(InvalidCredentials) as caught:
        await auth.authenticate(bearer(maker(idp)))
    assert caught.value.code == code, caught.value


@pytest.mark.parametrize(("name", "claims"), [
    ("expired-within-leeway", {"exp": -10}),
    ("nbf-within-leeway", {"nbf": 10}),
    ("aud-list-containing-ours", {"aud": ["other", "zonegate"]}),
])
async def test_within_tolerance_is_accepted(idp: DevIdP, make_auth: MakeAuth, name: str,
                                            claims: dict[str, object]) -> None:
    values = {k: (now() + v if isinstance(v, int) else v) for k, v in claims.items()}
    result = await make_auth(idp.issuer).authenticate(bearer(idp.mint(user="analyst", **values)))
    assert result.subject.id == "analyst"


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT"])
async def test_rfc9068_typ_spellings_accepted(idp: DevIdP, make_auth: MakeAuth,
                                              typ: str) -> None:
    token = idp.mint(user="analyst", header={"typ": typ})
    assert (await make_auth(idp.issuer).authenticate(bearer(token))).subject.id == "analyst"


@pytest.mark.parametrize("typ", ["JWT", None])
async def test_typ_not_required_when_configured(idp: DevIdP, make_auth: MakeAuth,
                                                typ: str | None) -> None:
    strict = make_auth(idp.issuer)
    relaxed = make_auth(idp.issuer, options=IssuerOptions(require_typ=False))
    token = idp.mint(user="analyst", header={"typ": typ})
    with pytest.raises(InvalidCredentials, match="wrong-typ"):
        await strict.authenticate(bearer(token))
    assert (await relaxed.authenticate(bearer(token))).subject.id == "analyst"


async def test_required_claims_are_configurable(idp: DevIdP, make_auth: MakeAuth) -> None:
    auth = make_auth(idp.issuer, options=IssuerOptions(
        required_claims=("iss", "sub", "aud", "exp", "iat", "jti", "acr")))
    with pytest.raises(InvalidCredentials, match="missing-claim"):
        await auth.authenticate(bearer(idp.mint(user="analyst", acr=None)))
    assert (await auth.authenticate(bearer(idp.mint(user="analyst")))).subject.acr


async def test_iss_swapped_to_another_trusted_issuer(idp: DevIdP, make_auth: MakeAuth) -> None:
    """Changing `iss` to another trusted issuer after signing breaks the signature."""
    other = "http://127.0.0.1:9/other"
    auth = make_auth(idp.issuer, extra=(f"    - issuer: {other}\n      audience: zonegate\n"
                                        f"      jwks_uri: {idp.jwks_uri}\n"))
    good = idp.mint(user="analyst")
    forged = reassemble(good, payload=claims_of(good) | {"iss": other})
    with pytest.raises(InvalidCredentials) as caught:
        await auth.authenticate(bearer(forged))
    assert caught.value.code == "bad-signature"


async def test_hs256_with_rsa_public_key_as_secret(make_auth: MakeAuth) -> None:
    from gateway.idp import demo_config

    config = demo_config().model_copy(update={"algorithm": "RS256"})
    async with DevIdP.start(config) as rsa_idp:
        auth = make_auth(rsa_idp.issuer)
        assert (await auth.authenticate(bearer(rsa_idp.mint(user="doctor")))).subject.id
        forged = _hs256(rsa_idp, _public_pem(rsa_idp))
        with pytest.raises(InvalidCredentials) as caught:
            await auth.authenticate(bearer(forged))
    assert caught.value.code == "alg-not-allowed"


@pytest.mark.parametrize("algorithms", [("HS256",), ("none",), ("ES256", "HS512"), ()])
def test_symmetric_or_none_algorithms_cannot_be_configured(algorithms: tuple[str, ...]) -> None:
    from gateway.identity import IdentitySetupError, IssuerPolicy

    with pytest.raises(IdentitySetupError, match="algorithms"):
        IssuerPolicy(issuer="https://idp", audience="zonegate", algorithms=algorithms)
