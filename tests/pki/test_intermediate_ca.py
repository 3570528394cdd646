"""The root-signed subordinate CA (pathLen 0) the egress proxy intercepts TLS with."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pki.authority import CertificateAuthority
from pki.errors import InvalidArgument, IssuanceRefused, OutputExists, PassphraseError
from pki.subordinate import issue_subordinate_ca


def _leaf_signed_by(key_pem: bytes, issuer: x509.Certificate, name: str) -> x509.Certificate:
    """What mitmproxy does: a server leaf for `name` signed by the interception CA."""
    key = serialization.load_pem_private_key(key_pem, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )


def test_subordinate_is_a_root_signed_ca_with_path_length_zero(ca: CertificateAuthority) -> None:
    sub = issue_subordinate_ca(ca)
    cert = sub.certificate
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    cert.verify_directly_issued_by(ca.root)
    assert cert.subject.rfc4514_string() == "CN=city.example Egress Interception CA,O=zonegate"
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=90)
    assert b"ENCRYPTED" not in sub.key_pem
    assert sub.chain_pem.count(b"BEGIN CERTIFICATE") == 2


def test_openssl_accepts_a_leaf_it_signs_and_refuses_a_ca_below_it(
        ca: CertificateAuthority, tmp_path: Path) -> None:
    sub = issue_subordinate_ca(ca)
    leaf = _leaf_signed_by(sub.key_pem, sub.certificate, "api.vendor.example")
    (tmp_path / "root.pem").write_bytes(ca.root.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "sub.pem").write_bytes(sub.certificate_pem)
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    ok = subprocess.run(
        ["openssl", "verify", "-CAfile", "root.pem", "-untrusted", "sub.pem",
         "-purpose", "sslserver", "leaf.pem"],
        cwd=tmp_path, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # pathLen 0: a CA certificate signed by the subordinate is not a valid path
    key = serialization.load_pem_private_key(sub.key_pem, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    child_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    child = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rogue CA")]))
        .issuer_name(sub.certificate.subject)
        .public_key(child_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    grandchild = _leaf_signed_by(private_pem(child_key), child, "evil.example")
    (tmp_path / "chain.pem").write_bytes(
        sub.certificate_pem + child.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "gc.pem").write_bytes(grandchild.public_bytes(serialization.Encoding.PEM))
    bad = subprocess.run(
        ["openssl", "verify", "-CAfile", "root.pem", "-untrusted", "chain.pem", "gc.pem"],
        cwd=tmp_path, capture_output=True, text=True, check=False)
    assert bad.returncode != 0
    assert "path length" in (bad.stdout + bad.stderr).lower()


def private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def test_encrypted_root_needs_the_passphrase(tmp_path: Path) -> None:
    ca = CertificateAuthority.init(tmp_path / "enc", "city.example", passphrase=b"s3cret")
    with pytest.raises(PassphraseError):
        issue_subordinate_ca(ca)
    with pytest.raises(PassphraseError):
        issue_subordinate_ca(ca, passphrase=b"wrong")
    sub = issue_subordinate_ca(ca, passphrase=b"s3cret", key_passphrase=b"k")
    assert b"ENCRYPTED" in sub.key_pem


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"role": ""}, InvalidArgument),
    ({"role": "x/../y"}, InvalidArgument),
    ({"lifetime": timedelta(minutes=5)}, IssuanceRefused),
    ({"lifetime": timedelta(days=400)}, IssuanceRefused),
    ({"now": datetime.now(UTC) + timedelta(days=3600)}, IssuanceRefused),  # outlives the root
])
def test_refusals(ca: CertificateAuthority, kwargs: dict[str, object], error: type) -> None:
    with pytest.raises(error):
        issue_subordinate_ca(ca, **kwargs)  # type: ignore[arg-type]


def test_write_refuses_to_overwrite(ca: CertificateAuthority, tmp_path: Path) -> None:
    sub = issue_subordinate_ca(ca)
    cert, key = tmp_path / "egress-ca.crt", tmp_path / "egress-ca.key"
    sub.write(cert, key)
    assert key.stat().st_mode & 0o777 == 0o600
    assert x509.load_pem_x509_certificate(cert.read_bytes()) == sub.certificate
    with pytest.raises(OutputExists):
        sub.write(cert, key)
    sub.write(cert, key, overwrite=True)
