"""Certificate revocation lists: signing ours and reading them back."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pki.errors import CRLError
from pki.pem import MAX_INPUT

__all__ = ["MAX_CRL_BYTES", "RevokedSerial", "build_crl", "load_crl", "signing_ca"]

RevokedSerial = tuple[int, datetime, x509.ReasonFlags]
# a CRL listing every certificate a city issues stays far below this
MAX_CRL_BYTES = MAX_INPUT * 16


def build_crl(
    *,
    issuer: x509.Certificate,
    issuer_key: ec.EllipticCurvePrivateKey,
    revoked: Iterable[RevokedSerial],
    number: int,
    now: datetime,
    lifetime: timedelta,
) -> bytes:
    """A PEM CRL signed by `issuer`, valid from `now` until `now + lifetime`."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(now)
        .next_update(now + lifetime)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    for serial, when, reason in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
        if reason is not x509.ReasonFlags.unspecified:
            # RFC 5280 5.3.1: omit the reason code rather than say "unspecified".
            entry = entry.add_extension(x509.CRLReason(reason), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    crl = builder.sign(issuer_key, hashes.SHA256())
    return crl.public_bytes(serialization.Encoding.PEM)


def load_crl(data: bytes, source: str) -> x509.CertificateRevocationList:
    """A PEM or DER CRL; raises CRLError naming `source`."""
    if len(data) > MAX_CRL_BYTES:
        raise CRLError(f"{source}: larger than {MAX_CRL_BYTES} bytes")
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise CRLError(f"{source}: not a CRL: {exc}") from exc


def signing_ca(
    crl: x509.CertificateRevocationList, cas: Iterable[x509.Certificate], source: str
) -> x509.Certificate:
    """The CA among `cas` that signed `crl`; raises CRLError when none did."""
    for ca in cas:
        if ca.subject != crl.issuer:
            continue
        try:
            key = ca.public_key()
            if isinstance(key, ec.EllipticCurvePublicKey) and crl.is_signature_valid(key):
                return ca
        except (ValueError, TypeError):
            continue
    raise CRLError(f"{source}: not signed by any of our CAs (issuer {crl.issuer.rfc4514_string()})")
