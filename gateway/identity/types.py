"""Identity types shared by the authenticators and the data plane.

Identity is verified in Python before policy runs (DESIGN.md contract 3): an
`Authenticator` turns what a request presents (bearer token, client certificate, a
trusted front proxy's XFCC header) into an `Authenticated` result or raises
`InvalidCredentials` with a stable kebab-case `code` (the gateway answers 401 with
`WWW-Authenticate: Bearer error="invalid_token"`). No credentials at all is not an error:
the subject is anonymous (`authenticated=False`) and policy decides (`unauthenticated`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from gateway.identity.errors import InvalidCredentials

__all__ = [
    "ANONYMOUS",
    "Authenticated",
    "Authenticator",
    "InvalidCredentials",
    "PeerCertificate",
    "Presented",
    "Subject",
    "SubjectType",
]

SubjectType = Literal["user", "service", "device"]


@dataclass(frozen=True, slots=True)
class Subject:
    """Who is asking: the `subject` object of the policy input."""

    authenticated: bool
    type: SubjectType = "user"
    id: str = ""
    issuer: str = ""
    roles: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    clearance: str = "L1"
    acr: str = ""
    amr: tuple[str, ...] = ()
    auth_time: int = 0
    spiffe_id: str = ""

    def to_input(self) -> dict[str, object]:
        """The contract-3 `subject` object."""
        return {
            "authenticated": self.authenticated,
            "type": self.type,
            "id": self.id,
            "issuer": self.issuer,
            "roles": list(self.roles),
            "groups": list(self.groups),
            "clearance": self.clearance,
            "acr": self.acr,
            "amr": list(self.amr),
            "auth_time": self.auth_time,
            "spiffe_id": self.spiffe_id,
        }


ANONYMOUS = Subject(authenticated=False)


@dataclass(frozen=True, slots=True)
class PeerCertificate:
    """A verified client certificate (directly over mTLS or from a trusted XFCC header)."""

    spiffe_id: str
    zone: str
    kind: Literal["device", "svc"]
    name: str
    fingerprint: str  # "sha256:<hex of DER>"
    via_xfcc: bool = False


@dataclass(frozen=True, slots=True)
class Presented:
    """What one request presents, gathered by the I/O shell."""

    authorization: str | None = None
    peer_cert_der: bytes | None = None
    peer_chain_der: tuple[bytes, ...] = ()
    xfcc: str | None = None
    peer_ip: str = ""


@dataclass(frozen=True, slots=True)
class Authenticated:
    """The verified identity of one request."""

    subject: Subject
    certificate: PeerCertificate | None = None
    token_claims: dict[str, object] = field(default_factory=dict)


class Authenticator(Protocol):
    """Port: verify what a request presents."""

    async def authenticate(self, presented: Presented) -> Authenticated:
        """Return the verified identity, ANONYMOUS if nothing was presented.

        Raises InvalidCredentials for anything presented and not acceptable (bad,
        expired or unbound token; untrusted certificate; XFCC from an untrusted peer is
        not an error: it is ignored and stripped by the data plane).
        """
        ...

    async def close(self) -> None:
        """Release HTTP sessions and background tasks."""
        ...
