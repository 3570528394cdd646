"""The token endpoint's grant logic (RFC 6749 §4.3 password, §4.4 client_credentials).

Confidential clients authenticate with their secret (HTTP Basic or the form); a public
client (`public: true`, the console in a browser) names itself with `client_id` alone and
may use only the password grant (the configuration refuses anything else).

Pure functions of (configuration, request fields, now): no I/O, so every refusal path is
testable without a server. Secrets are compared with hmac.compare_digest; an unknown client
or user costs the same work as a known one (no user enumeration by timing).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from urllib.parse import unquote

from gateway.idp.config import ClientConfig, IdPConfig
from gateway.idp.errors import OAuthError
from gateway.idp.passwords import verify_password
from gateway.idp.tokens import TokenRequest

__all__ = ["authenticate_client", "grant"]

_DUMMY_SECRET = "x" * 32
_DUMMY_HASH = ("scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$"
               "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")


def _invalid_client(detail: str) -> OAuthError:
    return OAuthError("invalid_client", detail, status=401)


def _basic(authorization: str) -> tuple[str, str]:
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise _invalid_client("only HTTP Basic client authentication is supported")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _invalid_client("malformed Basic credentials") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise _invalid_client("malformed Basic credentials")
    # RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding
    return unquote(client_id), unquote(secret)


def authenticate_client(config: IdPConfig, authorization: str | None,
                        form: Mapping[str, str]) -> tuple[str, ClientConfig]:
    """Return the authenticated client or raise OAuthError("invalid_client", status 401)."""
    if authorization is not None:
        if "client_secret" in form:
            raise OAuthError("invalid_request", "use one client authentication method")
        client_id, secret = _basic(authorization)
    else:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        public = config.clients.get(client_id)
        if public is not None and public.public:
            # a browser page (the console) cannot keep a secret: it names itself only
            if secret:
                raise _invalid_client("a public client has no secret")
            return client_id, public
    if not client_id or not secret:
        raise _invalid_client("client authentication is required")
    client = config.clients.get(client_id)
    if client is not None and client.public:
        raise _invalid_client("a public client sends client_id in the form, without Basic")
    expected = client.secret if client is not None and client.secret else _DUMMY_SECRET
    matches = hmac.compare_digest(secret.encode("utf-8"), expected.encode("utf-8"))
    if client is None or not matches:
        raise _invalid_client("unknown client or wrong secret")
    return client_id, client


def _scopes(client: ClientConfig, requested: str | None) -> tuple[str, ...]:
    if requested is None:
        return client.scopes
    wanted = tuple(dict.fromkeys(requested.split()))
    extra = [scope for scope in wanted if scope not in client.scopes]
    if extra:
        raise OAuthError("invalid_scope", f"scope {extra[0]!r} is not allowed for this client")
    return wanted


def grant(config: IdPConfig, client_id: str, client: ClientConfig,
          form: Mapping[str, str], now: int) -> TokenRequest:
    """Check the grant and return what the access token should say."""
    grant_type = form.get("grant_type")
    if grant_type not in ("client_credentials", "password"):
        raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
    if grant_type not in client.grants:
        raise OAuthError("unauthorized_client", f"this client may not use {grant_type}")
    scope = _scopes(client, form.get("scope"))
    audience = client.audience or config.audience
    if grant_type == "client_credentials":
        return TokenRequest(subject=client_id, client_id=client_id, audience=audience,
                            scope=scope, auth_time=now, acr="urn:zonegate:acr:client",
                            amr=(), roles=client.roles)
    username, password = form.get("username"), form.get("password")
    if not username or password is None:
        raise OAuthError("invalid_request", "the password grant needs username and password")
    user = config.users.get(username)
    ok = verify_password(password, user.password_hash if user is not None else _DUMMY_HASH)
    if user is None or not ok:
        raise OAuthError("invalid_grant", "unknown user or wrong password")
    return TokenRequest(subject=username, client_id=client_id, audience=audience, scope=scope,
                        auth_time=now, acr=user.acr, amr=("pwd",), roles=user.roles,
                        groups=user.groups, clearance=user.clearance)
