"""Issuing from a CSR: the signature is checked and nothing forbidden is granted."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pki.authority import CertificateAuthority
from pki.errors import CSRInvalid, InvalidArgument, IssuanceRefused
from pki.pem import load_csr
from pki.verify import CertificateVerifier
from tests.pki.forge import key_usage

URI = "spiffe://city.example/zone/health/device/cam-1"
Edit = Callable[[x509.CertificateSigningRequestBuilder], x509.CertificateSigningRequestBuilder]


def _csr(*, edit: Edit | None = None, uris: tuple[str, ...] = (URI,),
         key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None,
         ) -> tuple[x509.CertificateSigningRequest, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "admin")]))
    if uris:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.UniformResourceIdentifier(u) for u in uris]), critical=False)
    if edit:
        builder = edit(builder)
    return builder.sign(key, hashes.SHA256()), key


def test_csr_identity_and_key_are_certified(ca: CertificateAuthority) -> None:
    csr, key = _csr()
    issued = ca.issue(csr=csr)
    assert issued.key_pem is None
    assert issued.certificate.public_key() == key.public_key()
    assert issued.entry.source == "csr"
    # the CSR's subject (CN=admin) is not granted
    cn = issued.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "cam-1"
    identity = CertificateVerifier.from_ca_dir(ca.directory).verify(issued.certificate)
    assert identity.spiffe_id == URI


def test_csr_without_names_takes_the_command_line_identity(ca: CertificateAuthority) -> None:
    csr, _ = _csr(uris=())
    issued = ca.issue(csr=csr, zone="water", kind="svc", name="meter-api")
    assert issued.spiffe_id.uri == "spiffe://city.example/zone/water/svc/meter-api"


def test_csr_without_any_identity(ca: CertificateAuthority) -> None:
    csr, _ = _csr(uris=())
    with pytest.raises(InvalidArgument, match="no identity"):
        ca.issue(csr=csr)


def _eku(*oids: x509.ObjectIdentifier) -> Edit:
    return lambda b: b.add_extension(x509.ExtendedKeyUsage(list(oids)), critical=False)


REFUSED: dict[str, tuple[dict[str, object], dict[str, object], str]] = {
    # name: (CSR options, issue() options, message fragment)
    "ca-flag": ({"edit": lambda b: b.add_extension(x509.BasicConstraints(True, None), True)},
                {}, "CA certificate"),
    "cert-sign": ({"edit": lambda b: b.add_extension(key_usage(cert_sign=True), True)},
                  {}, "key_cert_sign"),
    "server-auth-not-granted": ({"edit": _eku(ExtendedKeyUsageOID.SERVER_AUTH)}, {},
                                "not granted"),
    "code-signing": ({"edit": _eku(ExtendedKeyUsageOID.CODE_SIGNING)}, {}, "not granted"),
    "other-trust-domain": ({"uris": ("spiffe://evil.example/zone/health/device/cam-1",)},
                           {}, "evil.example"),
    "two-uris": ({"uris": (URI, "spiffe://city.example/zone/health/device/cam-2")}, {},
                 "2 URI SANs"),
    "identity-mismatch": ({}, {"zone": "health", "kind": "device", "name": "cam-2"},
                          "but the issuance is for"),
    "dns-not-granted": ({"edit": lambda b: b.add_extension(x509.SubjectAlternativeName(
        [x509.UniformResourceIdentifier(URI), x509.DNSName("bank.example")]), False),
        "uris": ()}, {}, "bank.example"),
    "email-name": ({"edit": lambda b: b.add_extension(x509.SubjectAlternativeName(
        [x509.UniformResourceIdentifier(URI), x509.RFC822Name("a@b.c")]), False),
        "uris": ()}, {}, "RFC822Name"),
    "unknown-extension": ({"edit": lambda b: b.add_extension(
        x509.NameConstraints([x509.DNSName("x")], None), True)}, {}, "does not grant"),
    "rsa-key": ({"key": rsa.generate_private_key(65537, 2048)}, {}, "ECDSA P-256"),
    "p384-key": ({"key": ec.generate_private_key(ec.SECP384R1())}, {}, "ECDSA P-256"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_csr_asking_for_too_much_is_refused(ca: CertificateAuthority, case: str) -> None:
    csr_options, issue_options, match = REFUSED[case]
    csr, _ = _csr(**csr_options)  # type: ignore[arg-type]
    with pytest.raises(IssuanceRefused, match=match):
        ca.issue(csr=csr, **issue_options)  # type: ignore[arg-type]
    assert ca.entries() == []


def test_csr_may_ask_for_what_is_granted(ca: CertificateAuthority) -> None:
    csr, _ = _csr(edit=lambda b: b.add_extension(x509.SubjectAlternativeName(
        [x509.UniformResourceIdentifier("spiffe://city.example/zone/t/svc/api"),
         x509.DNSName("api.local")]), False).add_extension(
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False), uris=())
    issued = ca.issue(csr=csr, usages=("server",), dns_names=["api.local"])
    assert issued.entry.dns == ("api.local",)


def test_tampered_csr_signature_is_refused() -> None:
    csr, _ = _csr()
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01
    with pytest.raises(CSRInvalid, match="does not verify"):
        load_csr(bytes(der), "cam.csr")


@pytest.mark.parametrize("data", [b"", b"garbage", b"-----BEGIN CERTIFICATE REQUEST-----\n"
                                  b"AAAA\n-----END CERTIFICATE REQUEST-----\n", b"\x30\x03\x02"])
def test_garbage_csr_is_refused(data: bytes) -> None:
    with pytest.raises(CSRInvalid, match=r"cam\.csr"):
        load_csr(data, "cam.csr")


def test_openssl_csr_is_accepted(ca: CertificateAuthority, tmp_path: Path,
                                 require_tool: Callable[[str], str]) -> None:
    openssl = require_tool("openssl")
    key, req = tmp_path / "dev.key", tmp_path / "dev.csr"
    result = subprocess.run(
        [openssl, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-out", str(req), "-subj", "/CN=dev",
         "-addext", f"subjectAltName=URI:{URI}"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    issued = ca.issue(csr=load_csr(req.read_bytes(), str(req)))
    assert issued.spiffe_id.uri == URI
