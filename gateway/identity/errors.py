"""The identity package's exception tree.

    GatewayError
    └── IdentityError            base of everything identity raises on purpose
        ├── InvalidCredentials   presented credentials are not acceptable (401); `.code` is
        │                        a stable kebab-case reason, `.detail` a sentence
        └── IdentitySetupError   the authenticator cannot be built from the configuration

Key-set fetch failures are internal (`JWKSFetchError`): the cache keeps stale keys and a
request whose key cannot be found fails closed with `InvalidCredentials("unknown-key")` or
`InvalidCredentials("jwks-unavailable")`.
"""

from __future__ import annotations

from gateway.errors import GatewayError


class IdentityError(GatewayError):
    """Base of every error the identity package raises on purpose."""


class InvalidCredentials(IdentityError):
    """Credentials were presented and are not acceptable."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class IdentitySetupError(IdentityError):
    """The authenticator cannot be built (missing CA, bad issuer settings)."""


class JWKSFetchError(IdentityError):
    """A key set or discovery document could not be fetched or is malformed."""
