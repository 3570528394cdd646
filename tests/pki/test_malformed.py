"""Bad bytes get a precise error, never a crash, hang or acceptance."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pki.authority import CertificateAuthority
from pki.crl import load_crl
from pki.errors import CRLError, MalformedCertificate, VerificationError
from pki.pem import load_certificate, load_certificates
from pki.verify import CertificateVerifier

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "pki"
BAD_FILES = sorted(p.name for p in VECTORS.iterdir() if p.name != "README.md")


def test_every_vector_is_documented() -> None:
    readme = (VECTORS / "README.md").read_text()
    assert BAD_FILES and all(f"`{name}`" in readme for name in BAD_FILES)


@pytest.mark.parametrize("name", BAD_FILES)
def test_malformed_vector_is_refused(name: str) -> None:
    with pytest.raises(MalformedCertificate, match=name) as caught:
        load_certificates((VECTORS / name).read_bytes(), name)
    assert caught.value.code == "malformed-certificate"


def test_oversized_input_is_refused_before_parsing() -> None:
    with pytest.raises(MalformedCertificate, match="larger than"):
        load_certificates(b"-----BEGIN" + b"A" * (2 << 20), "huge.pem")


def test_a_bundle_is_not_one_certificate(ca: CertificateAuthority) -> None:
    with pytest.raises(MalformedCertificate, match="expected one certificate, found 2"):
        load_certificate((ca.directory / "ca.pem").read_bytes(), "ca.pem")


@pytest.mark.parametrize("data", [b"", b"junk", b"-----BEGIN X509 CRL-----\nAA==\n"
                                  b"-----END X509 CRL-----\n", b"\x30\x00"])
def test_malformed_crl(data: bytes) -> None:
    with pytest.raises(CRLError, match=r"crl\.pem"):
        load_crl(data, "crl.pem")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1024))
def test_random_bytes_never_crash_the_loader(data: bytes) -> None:
    with contextlib.suppress(MalformedCertificate):
        load_certificates(data, "fuzz")


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory
         ) -> tuple[CertificateVerifier, bytes]:
    ca = CertificateAuthority.init(tmp_path_factory.mktemp("fuzz") / "ca", "city.example")
    cert = ca.issue(zone="health", kind="device", name="cam-1").certificate
    return (CertificateVerifier.from_ca_dir(ca.directory),
            cert.public_bytes(serialization.Encoding.DER))


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_certificate_is_never_accepted(
        good: tuple[CertificateVerifier, bytes], data: st.DataObject) -> None:
    verifier, der = good
    mutated = bytearray(der)
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(der) - 1))
        mutated[index] = data.draw(st.integers(0, 255))
    if bytes(mutated) == der:
        return
    try:
        cert = load_certificate(bytes(mutated), "fuzz")
    except MalformedCertificate:
        return
    with pytest.raises(VerificationError):
        verifier.verify(cert)


def test_duplicate_extension_is_a_clear_error(ca: CertificateAuthority) -> None:
    der = ca.issue(zone="health", kind="device", name="cam-1").certificate.public_bytes(
        serialization.Encoding.DER)
    # turn the SubjectKeyIdentifier OID (2.5.29.14) into a second AuthorityKeyIdentifier
    # (2.5.29.35): the certificate still parses, its extensions do not
    mutated = der.replace(bytes.fromhex("0603551d0e"), bytes.fromhex("0603551d23"), 1)
    cert = x509.load_der_x509_certificate(mutated)
    with pytest.raises(VerificationError):
        CertificateVerifier.from_ca_dir(ca.directory).verify(cert)


def test_signature_padding_bits_are_refused(ca: CertificateAuthority) -> None:
    # found by the property above: the signature BIT STRING's unused-bits byte set to 1
    # left the signature cryptography checks unchanged (when the last byte is even, so the
    # padding bit is zero), and a certificate with another fingerprint verified
    for n in range(64):
        cert = ca.issue(zone="health", kind="device", name=f"cam-{n}").certificate
        if cert.signature[-1] % 2 == 0:
            break
    der = cert.public_bytes(serialization.Encoding.DER)
    assert der.endswith(b"\x00" + cert.signature)  # the unused-bits byte, then r and s
    mutated = bytearray(der)
    mutated[len(der) - len(cert.signature) - 1] = 1
    with pytest.raises(MalformedCertificate, match="unused bits"):
        load_certificate(bytes(mutated), "padded.der")


def test_name_attribute_retagged_as_bit_string_is_malformed(
        good: tuple[CertificateVerifier, bytes]) -> None:
    # found by the property above: cryptography raised TypeError decoding the subject
    _, der = good
    at = der.index(b"\x0c\x08zonegate")  # issuer O=zonegate, a UTF8String
    mutated = bytearray(der)
    mutated[at] = 0x03
    with pytest.raises(MalformedCertificate):
        load_certificate(bytes(mutated), "retagged.der")
