"""The development IdP's exception tree.

    GatewayError
    └── IdPError               base of everything the dev IdP raises on purpose
        ├── IdPConfigError     the YAML file is missing, unreadable or invalid (names the field)
        └── OAuthError         a token request is refused (RFC 6749 §5.2 error code, status)
"""

from __future__ import annotations

from gateway.errors import GatewayError


class IdPError(GatewayError):
    """Base of every error the development IdP raises on purpose."""


class IdPConfigError(IdPError):
    """The IdP configuration cannot be used; the message names the file and field."""


class OAuthError(IdPError):
    """A token request is refused with an RFC 6749 error code."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
