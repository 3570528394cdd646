"""OIDC JWT access tokens (RFC 9068) verified with PyJWT against our JWKS cache.

The order of checks is chosen so that nothing an attacker controls picks the algorithm or
the key type: the token's `alg` must be in the issuer's configured allow-list (asymmetric
only; `none` and HS* can never be configured), the key comes from the issuer's published
set by `kid`, and PyJWT verifies with exactly that one algorithm. Every failure is an
`InvalidCredentials` with a stable code; no other exception escapes for any input string.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt import exceptions as jwt_errors

from gateway.identity.claims import ClaimMapping
from gateway.identity.errors import IdentitySetupError, InvalidCredentials
from gateway.identity.jwks import Clock, JWKSCache, LazySession

__all__ = ["ASYMMETRIC_ALGORITHMS", "AT_JWT_TYPES", "BearerVerifier", "IssuerPolicy",
           "VerifiedToken", "split_token"]

ASYMMETRIC_ALGORITHMS = frozenset({"ES256", "ES384", "ES512", "RS256", "RS384", "RS512",
                                   "PS256", "PS384", "PS512", "EdDSA"})
AT_JWT_TYPES = frozenset({"at+jwt", "application/at+jwt"})
MAX_TOKEN_BYTES = 16 * 1024
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_DEFAULT_REQUIRED = ("iss", "sub", "aud", "exp", "iat", "jti")


@dataclass(frozen=True, slots=True)
class IssuerPolicy:
    """How tokens of one issuer are verified."""

    issuer: str
    audience: str
    algorithms: tuple[str, ...] = ("ES256", "RS256")
    jwks_uri: str | None = None
    require_typ: bool = True  # RFC 9068 `typ: at+jwt`
    required_claims: tuple[str, ...] = _DEFAULT_REQUIRED
    leeway: float = 30.0
    claims: ClaimMapping = field(default_factory=ClaimMapping)

    def __post_init__(self) -> None:
        bad = [alg for alg in self.algorithms if alg not in ASYMMETRIC_ALGORITHMS]
        if bad or not self.algorithms:
            raise IdentitySetupError(
                f"issuer {self.issuer}: algorithms must be a non-empty subset of "
                f"{sorted(ASYMMETRIC_ALGORITHMS)}, got {list(self.algorithms)}"
            )
        if not self.issuer or not self.audience:
            raise IdentitySetupError("an issuer needs both 'issuer' and 'audience'")
        if not 0 <= self.leeway <= 300:
            raise IdentitySetupError(f"issuer {self.issuer}: leeway must be 0..300 seconds")


def _b64_json(segment: str, what: str) -> dict[str, object]:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidCredentials("malformed-token", f"the token {what} is not base64url JSON"
                                 ) from None
    if not isinstance(value, dict):
        raise InvalidCredentials("malformed-token", f"the token {what} is not a JSON object")
    return value


def split_token(token: str) -> tuple[dict[str, object], dict[str, object]]:
    """Decode header and payload without verifying anything; malformed -> InvalidCredentials."""
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidCredentials("malformed-token", f"token longer than {MAX_TOKEN_BYTES} bytes")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidCredentials(
            "malformed-token", f"a JWS has 3 dot-separated segments, this has {len(parts)}"
        )
    # the signature may be empty (alg none): the algorithm check refuses it with its own code
    if not all(_SEGMENT.fullmatch(part) for part in parts[:2]) or not (
            parts[2] == "" or _SEGMENT.fullmatch(parts[2])):
        raise InvalidCredentials("malformed-token", "a token segment is not base64url")
    return _b64_json(parts[0], "header"), _b64_json(parts[1], "payload")


_PYJWT_CODES: tuple[tuple[type[Exception], str], ...] = (
    (jwt_errors.ExpiredSignatureError, "token-expired"),
    (jwt_errors.ImmatureSignatureError, "token-not-yet-valid"),
    (jwt_errors.InvalidAudienceError, "wrong-audience"),
    (jwt_errors.InvalidIssuerError, "wrong-issuer"),
    (jwt_errors.MissingRequiredClaimError, "missing-claim"),
    (jwt_errors.InvalidIssuedAtError, "bad-claim"),
    (jwt_errors.InvalidSignatureError, "bad-signature"),
    (jwt_errors.InvalidAlgorithmError, "alg-not-allowed"),
)


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """A token whose signature and registered claims were verified."""

    claims: dict[str, object]
    policy: IssuerPolicy


class BearerVerifier:
    """Verify bearer tokens from a fixed set of issuers, each with its own key cache."""

    def __init__(self, issuers: Mapping[str, tuple[IssuerPolicy, JWKSCache]],
                 session: LazySession | None = None) -> None:
        self._issuers = dict(issuers)
        self._session = session  # owned: closed by close()

    @classmethod
    def create(cls, policies: Iterable[IssuerPolicy], *, ttl: float = 300.0,
               cooldown: float = 10.0, clock: Clock = time.monotonic) -> BearerVerifier:
        """Build a verifier with one shared (lazily created) HTTP session, a cache per issuer."""
        session = LazySession()
        issuers: dict[str, tuple[IssuerPolicy, JWKSCache]] = {}
        for policy in policies:
            if policy.issuer in issuers:
                raise IdentitySetupError(f"issuer {policy.issuer} is configured twice")
            cache = JWKSCache(session, issuer=policy.issuer, jwks_uri=policy.jwks_uri,
                              ttl=ttl, cooldown=cooldown, clock=clock)
            issuers[policy.issuer] = (policy, cache)
        return cls(issuers, session)

    async def close(self) -> None:
        """Close the HTTP session used for key fetches."""
        if self._session is not None:
            await self._session.close()

    @property
    def issuers(self) -> tuple[str, ...]:
        """The configured issuer identifiers."""
        return tuple(self._issuers)

    def cache(self, issuer: str) -> JWKSCache:
        """The key cache of one issuer (for metrics and tests)."""
        return self._issuers[issuer][1]

    async def verify(self, token: str) -> VerifiedToken:
        """Return the verified claims of `token` or raise InvalidCredentials."""
        header, payload = split_token(token)
        iss = payload.get("iss")
        if not isinstance(iss, str) or iss not in self._issuers:
            raise InvalidCredentials("unknown-issuer", f"issuer {iss!r} is not trusted")
        policy, cache = self._issuers[iss]
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in policy.algorithms:
            raise InvalidCredentials(
                "alg-not-allowed", f"alg {alg!r} is not allowed for {iss} "
                f"(allowed: {', '.join(policy.algorithms)})"
            )
        if policy.require_typ:
            typ = header.get("typ")
            if not isinstance(typ, str) or typ.lower() not in AT_JWT_TYPES:
                raise InvalidCredentials(
                    "wrong-typ", f"typ {typ!r} is not an RFC 9068 access token (at+jwt)"
                )
        if "crit" in header:
            raise InvalidCredentials("malformed-token", "critical header extensions are "
                                     "not supported")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidCredentials("missing-kid", "the token header names no key (kid)")
        key = await cache.key(kid, alg)
        return VerifiedToken(self._decode(token, key, alg, policy), policy)

    @staticmethod
    def _decode(token: str, key: jwt.PyJWK, alg: str, policy: IssuerPolicy) -> dict[str, object]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=policy.audience,
                issuer=policy.issuer,
                leeway=policy.leeway,
                options={"require": list(policy.required_claims), "verify_signature": True,
                         "verify_exp": True, "verify_nbf": True, "verify_iat": True,
                         "verify_aud": True, "verify_iss": True},
            )
        except jwt_errors.PyJWTError as exc:
            for kind, code in _PYJWT_CODES:
                if isinstance(exc, kind):
                    raise InvalidCredentials(code, str(exc)) from None
            raise InvalidCredentials("malformed-token", str(exc)) from None
        except (ValueError, TypeError, OverflowError) as exc:
            raise InvalidCredentials("malformed-token", f"{type(exc).__name__}: {exc}"
                                     ) from None
        return claims
