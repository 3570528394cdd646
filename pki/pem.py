"""Reading certificates, keys and CSRs from bytes, with a precise error for bad input."""

from __future__ import annotations

import re
import warnings

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pki.errors import CACorrupt, CSRInvalid, MalformedCertificate, PassphraseError

__all__ = [
    "DECODE_ERRORS",
    "certificate_pem",
    "chain_pem",
    "fingerprint",
    "load_certificate",
    "load_certificates",
    "load_csr",
    "load_private_key",
    "private_key_pem",
]

_PEM_CERT = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL
)
# What decoding a certificate's or CSR's lazily parsed parts may raise (seen by fuzzing
# cryptography 44: KeyError for an unknown string tag in a Name, TypeError for a Name
# attribute re-tagged as a BIT STRING).
DECODE_ERRORS = (
    ValueError, KeyError, TypeError, x509.InvalidVersion, x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)
# Refuse absurd inputs before parsing: a chain of a few certificates is a few KB.
MAX_INPUT = 1 << 20


def load_certificates(data: bytes, source: str) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle, or the one certificate of a DER blob.

    Raises MalformedCertificate naming `source` when nothing parses or any block is bad.
    """
    if len(data) > MAX_INPUT:
        raise MalformedCertificate(f"{source}: larger than {MAX_INPUT} bytes")
    # cryptography only warns about some violations (a negative serial number, a country
    # name of the wrong length); a certificate like that is malformed to us.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if b"-----BEGIN" in data:
            blocks = _PEM_CERT.findall(data)
            if not blocks:
                raise MalformedCertificate(f"{source}: no PEM CERTIFICATE block")
            try:
                return [_decoded(x509.load_pem_x509_certificate(block)) for block in blocks]
            except (*DECODE_ERRORS, Warning) as exc:
                raise MalformedCertificate(f"{source}: bad PEM certificate: {exc}") from exc
        if not data.strip():
            raise MalformedCertificate(f"{source}: empty")
        try:
            return [_decoded(x509.load_der_x509_certificate(data))]
        except (*DECODE_ERRORS, Warning) as exc:
            raise MalformedCertificate(
                f"{source}: neither PEM nor DER certificate: {exc}"
            ) from exc


def _tlv(der: bytes, at: int) -> tuple[int, int, int]:
    """(tag, start of the value, end of the value) of the DER element at `at`."""
    if at + 2 > len(der):
        raise ValueError("truncated DER element")
    tag, first = der[at], der[at + 1]
    start = at + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if not 1 <= count <= 4 or start + count > len(der):
            raise ValueError("bad DER length")
        length = int.from_bytes(der[start:start + count], "big")
        start += count
    if start + length > len(der):
        raise ValueError("truncated DER element")
    return tag, start, start + length


def _check_signature_bits(der: bytes) -> None:
    """Refuse a signature BIT STRING with padding bits: cryptography ignores the count,
    so such a certificate would verify with a fingerprint the CA never issued."""
    _, body, end = _tlv(der, 0)
    _, _, after_tbs = _tlv(der, body)
    _, _, after_alg = _tlv(der, after_tbs)
    tag, value, _ = _tlv(der, after_alg)
    if tag != 0x03 or value >= end or der[value] != 0:
        raise ValueError("the signature BIT STRING has unused bits")


def _decoded(cert: x509.Certificate) -> x509.Certificate:
    """Decode the lazily parsed parts now, so that their errors surface here."""
    _check_signature_bits(cert.public_bytes(serialization.Encoding.DER))
    cert.extensions  # noqa: B018
    cert.issuer  # noqa: B018
    cert.subject  # noqa: B018
    cert.not_valid_before_utc  # noqa: B018
    cert.not_valid_after_utc  # noqa: B018
    return cert


def load_certificate(data: bytes, source: str) -> x509.Certificate:
    """Exactly one certificate (PEM or DER)."""
    certs = load_certificates(data, source)
    if len(certs) != 1:
        raise MalformedCertificate(f"{source}: expected one certificate, found {len(certs)}")
    return certs[0]


def load_csr(data: bytes, source: str) -> x509.CertificateSigningRequest:
    """A PEM or DER CSR whose self-signature verifies; raises CSRInvalid."""
    if len(data) > MAX_INPUT:
        raise CSRInvalid(f"{source}: larger than {MAX_INPUT} bytes")
    try:
        if b"-----BEGIN" in data:
            csr = x509.load_pem_x509_csr(data)
        else:
            csr = x509.load_der_x509_csr(data)
    except DECODE_ERRORS as exc:
        raise CSRInvalid(f"{source}: not a certificate signing request: {exc}") from exc
    try:
        csr.extensions  # noqa: B018 - decode now so that a bad extension is named here
        csr.subject  # noqa: B018
        valid = csr.is_signature_valid
    except (*DECODE_ERRORS, TypeError) as exc:
        raise CSRInvalid(f"{source}: CSR signature cannot be checked: {exc}") from exc
    if not valid:
        raise CSRInvalid(f"{source}: CSR signature does not verify (tampered or corrupted)")
    return csr


def load_private_key(
    data: bytes, source: str, passphrase: bytes | None
) -> ec.EllipticCurvePrivateKey:
    """An ECDSA P-256 private key from PEM; raises PassphraseError or CACorrupt."""
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError as exc:
        if passphrase is None:
            raise PassphraseError(
                f"{source} is encrypted: give --passphrase-env or --passphrase-file"
            ) from exc
        raise PassphraseError(f"{source} is not encrypted, but a passphrase was given") from exc
    except ValueError as exc:
        if passphrase is not None and b"ENCRYPTED" in data:
            raise PassphraseError(f"cannot decrypt {source}: wrong passphrase") from exc
        raise CACorrupt(f"{source}: not a PEM private key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise CACorrupt(f"{source}: not an ECDSA P-256 private key")
    return key


def private_key_pem(key: ec.EllipticCurvePrivateKey, passphrase: bytes | None = None) -> bytes:
    """PKCS#8 PEM, encrypted with the best available scheme when a passphrase is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def certificate_pem(cert: x509.Certificate) -> bytes:
    """PEM of one certificate."""
    return cert.public_bytes(serialization.Encoding.PEM)


def chain_pem(certs: list[x509.Certificate]) -> bytes:
    """PEM bundle, in the order given."""
    return b"".join(certificate_pem(cert) for cert in certs)


def fingerprint(cert: x509.Certificate) -> str:
    """`sha256:<lowercase hex of the DER>`, the form policy input and the inventory use."""
    return "sha256:" + cert.fingerprint(hashes.SHA256()).hex()
