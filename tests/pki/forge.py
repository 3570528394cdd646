"""Build certificates the CA would never issue, signed with a test CA's own keys.

Attack tests need leaves that break one rule at a time; `forge_leaf` starts from a leaf
our policy would issue and changes only what the caller asks for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pki.authority import CertificateAuthority

CLIENT = ExtendedKeyUsageOID.CLIENT_AUTH
SERVER = ExtendedKeyUsageOID.SERVER_AUTH
GOOD_URI = "spiffe://city.example/zone/health/device/cam-1"
_UNSET = object()


def intermediate_key(ca: CertificateAuthority, passphrase: bytes | None = None
                     ) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(
        (ca.directory / "intermediate.key").read_bytes(), password=passphrase)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def key_usage(*, digital_signature: bool = True, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign,
        crl_sign=cert_sign, encipher_only=False, decipher_only=False)


@dataclass
class Forged:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def write(self, path: Path) -> Path:
        path.write_bytes(self.pem())
        return path


def forge_leaf(
    ca: CertificateAuthority,
    *,
    uris: Sequence[str] = (GOOD_URI,),
    dns: Sequence[str] = (),
    ekus: Sequence[x509.ObjectIdentifier] | None = (CLIENT,),
    ca_flag: bool = False,
    ku: x509.KeyUsage | None = None,
    not_before: datetime | None = None,
    lifetime: timedelta = timedelta(hours=1),
    signer: ec.EllipticCurvePrivateKey | None = None,
    issuer: x509.Name | None = None,
    subject: str = "forged",
) -> Forged:
    """A leaf signed by `signer` (default: the CA's intermediate key) under `issuer`
    (default: the intermediate's name); the AKI names the signer's key."""
    now = datetime.now(UTC)
    start = not_before or now - timedelta(minutes=5)
    key = ec.generate_private_key(ec.SECP256R1())
    signing = signer or intermediate_key(ca)
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(u) for u in uris]
    names += [x509.DNSName(d) for d in dns]
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer or ca.intermediate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + lifetime)
        .add_extension(x509.BasicConstraints(ca=ca_flag, path_length=None), critical=True)
        .add_extension(ku or key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            signing.public_key()), critical=False)
    )
    if ekus is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(ekus)), critical=False)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return Forged(builder.sign(signing, hashes.SHA256()), key)


def tamper_signature(cert: x509.Certificate) -> x509.Certificate:
    """Flip one bit in the last byte of the signature value (still parses)."""
    der = bytearray(cert.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01
    return x509.load_der_x509_certificate(bytes(der))


def tamper_body(cert: x509.Certificate, old: bytes, new: bytes) -> x509.Certificate:
    """Replace bytes inside the signed body (same length), keeping the old signature."""
    assert len(old) == len(new)
    der = cert.public_bytes(serialization.Encoding.DER)
    assert der.count(old) == 1
    return x509.load_der_x509_certificate(der.replace(old, new))
