"""RFC 9068 access tokens issued by the dev IdP (signed with authlib.jose)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from authlib.jose import jwt

from gateway.idp.keys import SigningKey

__all__ = ["TokenRequest", "access_token_claims", "sign"]


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """Who a token is for, after the grant was checked."""

    subject: str
    client_id: str
    audience: str
    scope: tuple[str, ...]
    auth_time: int
    acr: str
    amr: tuple[str, ...]
    roles: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    clearance: str | None = None


def access_token_claims(request: TokenRequest, *, issuer: str, now: int,
                        ttl: int) -> dict[str, object]:
    """The RFC 9068 claim set (plus zonegate's roles, groups, clearance)."""
    claims: dict[str, object] = {
        "iss": issuer,
        "sub": request.subject,
        "aud": request.audience,
        "exp": now + ttl,
        "iat": now,
        "nbf": now,
        "jti": secrets.token_urlsafe(16),
        "client_id": request.client_id,
        "scope": " ".join(request.scope),
        "auth_time": request.auth_time,
        "acr": request.acr,
        "amr": list(request.amr),
        "roles": list(request.roles),
        "groups": list(request.groups),
    }
    if request.clearance is not None:
        claims["clearance"] = request.clearance
    return claims


def sign(claims: Mapping[str, object], key: SigningKey, algorithm: str,
         header: Mapping[str, object] | None = None) -> str:
    """Sign `claims` as a JWS with `typ: at+jwt`; `header` overrides header fields."""
    protected: dict[str, object] = {"alg": algorithm, "typ": "at+jwt", "kid": key.kid}
    protected.update(header or {})
    token: bytes = jwt.encode(protected, dict(claims), key.key)
    return token.decode("ascii")
