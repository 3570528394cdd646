"""The gateway's Authenticator: bearer token, client certificate, trusted XFCC, combined.

Who is the subject:

- a bearer token only: the token's subject (user, or service for client_credentials);
- a certificate only: the certificate's workload, type `device` for a device certificate
  and `service` for a svc certificate, id and spiffe_id = the SPIFFE ID;
- both: the token's subject, with the certificate as the device/workload binding
  (`spiffe_id` set, `certificate` returned); a token bound with `cnf.x5t#S256` (RFC 8705)
  must match the certificate;
- nothing: ANONYMOUS (policy decides).

Client certificates over TLS: `off` ignores them, `optional` verifies one when presented,
`required` refuses a request without one (a certificate forwarded by a trusted front proxy
satisfies it too). XFCC is read only from `trusted_xfcc_from` peers and only when no
certificate came over TLS directly; from anyone else it is ignored (and the data plane
strips it). A workload without a token gets `workload_clearance` (default L1).
"""

from __future__ import annotations

from typing import Literal

from gateway.identity.claims import LEVELS, subject_from_claims
from gateway.identity.errors import InvalidCredentials
from gateway.identity.mtls import CertificateAuthenticator, check_binding
from gateway.identity.tokens import BearerVerifier
from gateway.identity.types import (
    ANONYMOUS,
    Authenticated,
    PeerCertificate,
    Presented,
    Subject,
)

__all__ = ["ClientCertMode", "GatewayAuthenticator"]

ClientCertMode = Literal["off", "optional", "required"]


def _bearer(authorization: str) -> str:
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise InvalidCredentials("unsupported-scheme", "use 'Authorization: Bearer <token>'")
    token = token.strip()
    if not token:
        raise InvalidCredentials("malformed-token", "the Bearer token is empty")
    return token


def _workload_subject(cert: PeerCertificate, clearance: str) -> Subject:
    return Subject(
        authenticated=True,
        type="device" if cert.kind == "device" else "service",
        id=cert.spiffe_id,
        issuer="spiffe://" + cert.spiffe_id.removeprefix("spiffe://").split("/", 1)[0],
        clearance=clearance,
        amr=("mtls",),
        spiffe_id=cert.spiffe_id,
    )


class GatewayAuthenticator:
    """Implements the `Authenticator` port (gateway/identity/types.py)."""

    def __init__(
        self,
        *,
        tokens: BearerVerifier | None = None,
        certificates: CertificateAuthenticator | None = None,
        client_cert: ClientCertMode = "off",
        workload_clearance: str = "L1",
    ) -> None:
        if client_cert != "off" and certificates is None:  # a programming error, not input
            raise ValueError("client certificates are enabled but no verifier was given")
        if workload_clearance not in LEVELS:
            raise ValueError(f"workload_clearance must be one of {LEVELS}")
        self._tokens = tokens
        self._certificates = certificates
        self._client_cert = client_cert
        self._workload_clearance = workload_clearance

    @property
    def tokens(self) -> BearerVerifier | None:
        """The bearer-token verifier, if any issuer is configured."""
        return self._tokens

    def trusts_xfcc_from(self, peer_ip: str) -> bool:
        """Whether the data plane should keep (not strip) XFCC from this peer."""
        return self._certificates is not None and self._certificates.trusts_xfcc_from(peer_ip)

    async def authenticate(self, presented: Presented) -> Authenticated:
        """Return the verified identity of one request (see the module docstring)."""
        cert, cert_der = self._certificate(presented)
        if presented.authorization is None:
            if cert is None:
                return Authenticated(subject=ANONYMOUS)
            return Authenticated(subject=_workload_subject(cert, self._workload_clearance),
                                 certificate=cert)
        token = _bearer(presented.authorization)
        if self._tokens is None:
            raise InvalidCredentials("unknown-issuer", "no token issuer is configured")
        verified = await self._tokens.verify(token)
        check_binding(verified.claims, cert_der)
        subject = subject_from_claims(verified.claims, verified.policy.claims,
                                      spiffe_id=cert.spiffe_id if cert else "")
        return Authenticated(subject=subject, certificate=cert, token_claims=verified.claims)

    def _certificate(self, presented: Presented) -> tuple[PeerCertificate | None, bytes | None]:
        if self._certificates is None:
            return None, None
        if presented.peer_cert_der is not None and self._client_cert != "off":
            return self._certificates.from_tls(presented.peer_cert_der, presented.peer_chain_der)
        if presented.xfcc is not None and self._certificates.trusts_xfcc_from(presented.peer_ip):
            return self._certificates.from_xfcc(presented.xfcc)
        if self._client_cert == "required":
            raise InvalidCredentials("certificate-required", "a client certificate is required")
        return None, None

    async def close(self) -> None:
        """Release the JWKS HTTP session."""
        if self._tokens is not None:
            await self._tokens.close()
