"""Client certificates: direct mTLS and trusted XFCC, verified by the PKI, and RFC 8705 binding.

The chain, validity, revocation and SPIFFE ID checks are the PKI's (`pki.verify`); this
module adapts them to the gateway: DER or XFCC in, `PeerCertificate` out, every failure an
`InvalidCredentials` carrying the PKI's stable code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Literal, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.identity.errors import InvalidCredentials
from gateway.identity.types import PeerCertificate
from gateway.identity.xfcc import XFCCError, parse_xfcc
from gateway.netset import NetworkSet
from pki.errors import PKIError

__all__ = [
    "CertificateAuthenticator",
    "ChainVerifier",
    "VerifiedCertificate",
    "check_binding",
    "x5t_s256",
]


class VerifiedCertificate(Protocol):
    """What `pki.verify.CertificateVerifier.verify` returns (its `VerifiedIdentity`)."""

    @property
    def spiffe_id(self) -> str: ...
    @property
    def zone(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def fingerprint(self) -> str: ...


class ChainVerifier(Protocol):
    """The PKI's certificate verifier (`pki.verify.CertificateVerifier`)."""

    def verify(
        self,
        leaf: x509.Certificate,
        chain: Sequence[x509.Certificate] = (),
        usage: Literal["client", "server"] = "client",
        now: datetime | None = None,
    ) -> VerifiedCertificate:
        """Verify `leaf` (with `chain` intermediates) or raise a pki VerificationError."""
        ...


def x5t_s256(der: bytes) -> str:
    """The RFC 8705 `x5t#S256` thumbprint: base64url (unpadded) SHA-256 of the DER."""
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def check_binding(claims: dict[str, object], cert_der: bytes | None) -> None:
    """Enforce RFC 8705 certificate binding when the token carries `cnf.x5t#S256`."""
    cnf = claims.get("cnf")
    if cnf is None:
        return
    if not isinstance(cnf, dict):
        raise InvalidCredentials("bad-claim", "claim 'cnf' must be an object")
    thumbprint = cnf.get("x5t#S256")
    if thumbprint is None:
        return
    if not isinstance(thumbprint, str):
        raise InvalidCredentials("bad-claim", "cnf 'x5t#S256' must be a string")
    if cert_der is None:
        raise InvalidCredentials(
            "certificate-binding-missing",
            "the token is bound to a client certificate and none was presented",
        )
    if not hmac.compare_digest(thumbprint.encode("ascii", "replace"),
                               x5t_s256(cert_der).encode("ascii")):
        raise InvalidCredentials(
            "certificate-binding-mismatch",
            "the token is bound to another client certificate (cnf x5t#S256)",
        )


def _load_der(der: bytes, what: str) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        raise InvalidCredentials("malformed-certificate", f"the {what} is not DER X.509"
                                 ) from None


class CertificateAuthenticator:
    """Turn a presented client certificate (direct or via trusted XFCC) into a PeerCertificate."""

    def __init__(self, verifier: ChainVerifier, *,
                 trusted_xfcc_from: Iterable[str] = ()) -> None:
        self._verifier = verifier
        self._trusted = NetworkSet(trusted_xfcc_from)

    def trusts_xfcc_from(self, peer_ip: str) -> bool:
        """Whether `peer_ip` is a configured front proxy whose XFCC header is believed."""
        return peer_ip in self._trusted

    def from_tls(self, leaf_der: bytes, chain_der: Sequence[bytes] = ()) -> tuple[
            PeerCertificate, bytes]:
        """Verify a certificate taken from this connection's TLS handshake."""
        leaf = _load_der(leaf_der, "client certificate")
        chain = [_load_der(der, "chain certificate") for der in chain_der]
        return self._verify(leaf, chain, via_xfcc=False), leaf_der

    def from_xfcc(self, header: str) -> tuple[PeerCertificate, bytes]:
        """Verify the client certificate a trusted front proxy forwarded in XFCC."""
        try:
            elements = parse_xfcc(header)
        except XFCCError as exc:
            raise InvalidCredentials("malformed-xfcc", str(exc)) from None
        if len(elements) != 1:
            raise InvalidCredentials(
                "malformed-xfcc", f"expected one element from the front proxy, got {len(elements)}"
            )
        element = elements[0]
        if element.cert_pem is None:
            raise InvalidCredentials("malformed-xfcc", "the element carries no Cert")
        try:
            leaf = x509.load_pem_x509_certificate(element.cert_pem)
            chain = (x509.load_pem_x509_certificates(element.chain_pem)
                     if element.chain_pem is not None else [])
        except ValueError:
            raise InvalidCredentials("malformed-xfcc", "Cert or Chain is not PEM X.509"
                                     ) from None
        leaf_der = leaf.public_bytes(Encoding.DER)
        if element.hash is not None and not hmac.compare_digest(
                element.hash.encode(), hashlib.sha256(leaf_der).hexdigest().encode()):
            raise InvalidCredentials("malformed-xfcc", "Hash does not match Cert")
        peer = self._verify(leaf, chain, via_xfcc=True)
        if element.uris and element.uris != (peer.spiffe_id,):
            raise InvalidCredentials("malformed-xfcc", "URI does not match the certificate")
        return peer, leaf_der

    def _verify(self, leaf: x509.Certificate, chain: Sequence[x509.Certificate], *,
                via_xfcc: bool) -> PeerCertificate:
        try:
            verified = self._verifier.verify(leaf, chain, usage="client")
        except PKIError as exc:
            code = getattr(exc, "code", "untrusted-certificate")
            raise InvalidCredentials(str(code), str(getattr(exc, "detail", exc))) from None
        kind = verified.kind
        if kind not in ("device", "svc"):
            raise InvalidCredentials("bad-spiffe-id", f"unknown certificate kind {kind!r}")
        return PeerCertificate(
            spiffe_id=verified.spiffe_id,
            zone=verified.zone,
            kind="device" if kind == "device" else "svc",
            name=verified.name,
            fingerprint=verified.fingerprint,
            via_xfcc=via_xfcc,
        )
