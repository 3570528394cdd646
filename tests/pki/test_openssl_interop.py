"""Interop: `openssl verify -crl_check` agrees with our verdict on the same certificates.

OpenSSL knows nothing of SPIFFE, so for the X509-SVID rules (one URI SAN, trust domain,
path shape) and two profile rules (no CA:TRUE leaf, explicit clientAuth) the table records
that OpenSSL accepts what we refuse; chain, validity, revocation, signature and keyUsage
verdicts must agree, and we are never more lenient than OpenSSL.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pki.authority import CertificateAuthority
from pki.errors import VerificationError
from pki.verify import CertificateVerifier
from tests.pki.forge import forge_leaf, key_usage, tamper_body, tamper_signature

Build = Callable[[CertificateAuthority, CertificateAuthority], x509.Certificate]
NOW = datetime.now(UTC)


def _good(ca: CertificateAuthority, _: CertificateAuthority) -> x509.Certificate:
    return ca.issue(zone="health", kind="device", name="cam-1").certificate


def _revoked(ca: CertificateAuthority, _: CertificateAuthority) -> x509.Certificate:
    issued = ca.issue(zone="health", kind="device", name="stolen")
    ca.revoke(issued.serial, "keyCompromise")
    return issued.certificate


CASES: dict[str, tuple[Build, str | None, bool]] = {
    # name: (build, our error code or None, does openssl accept it?)
    "valid": (_good, None, True),
    "foreign-ca": (lambda ca, f: f.issue(zone="health", kind="device", name="x").certificate,
                   "untrusted-chain", False),
    "expired": (lambda ca, f: ca.issue(zone="health", kind="device", name="x",
                                       now=NOW - timedelta(days=2)).certificate,
                "cert-expired", False),
    "not-yet-valid": (lambda ca, f: forge_leaf(ca, not_before=NOW + timedelta(hours=2)).cert,
                      "cert-not-yet-valid", False),
    "revoked": (_revoked, "cert-revoked", False),
    "tampered-signature": (lambda ca, f: tamper_signature(_good(ca, f)), "bad-signature", False),
    "tampered-body": (lambda ca, f: tamper_body(_good(ca, f), b"/device/cam-1", b"/device/cam-2"),
                      "bad-signature", False),
    "missing-client-auth": (
        lambda ca, f: ca.issue(zone="health", kind="svc", name="api", usages=("server",),
                               dns_names=["api.local"]).certificate,
        "not-client-cert", False),
    "forged-valid": (lambda ca, f: forge_leaf(ca).cert, None, True),
    "leaf-can-sign-certs": (lambda ca, f: forge_leaf(ca, ku=key_usage(cert_sign=True)).cert,
                            "bad-key-usage", False),
    # Stricter than OpenSSL: X509-SVID rules, and our profile (a leaf must not be a CA,
    # and must name clientAuth explicitly; OpenSSL reads "no EKU" as "any purpose").
    "ca-true-leaf": (lambda ca, f: forge_leaf(ca, ca_flag=True).cert, "leaf-is-ca", True),
    "no-eku": (lambda ca, f: forge_leaf(ca, ekus=None).cert, "not-client-cert", True),
    "two-uri-sans": (lambda ca, f: forge_leaf(ca, uris=[
        "spiffe://city.example/zone/a/device/1", "spiffe://city.example/zone/a/device/2"]).cert,
        "multiple-uri-sans", True),
    "wrong-trust-domain": (lambda ca, f: forge_leaf(
        ca, uris=["spiffe://other.example/zone/a/device/1"]).cert, "wrong-trust-domain", True),
    "bad-path-shape": (lambda ca, f: forge_leaf(
        ca, uris=["spiffe://city.example/devices/1"]).cert, "bad-spiffe-id", True),
}


def _openssl_accepts(openssl: str, ca: CertificateAuthority, leaf: Path) -> bool:
    result = subprocess.run(
        [openssl, "verify", "-CAfile", str(ca.directory / "root.crt"),
         "-untrusted", str(ca.directory / "intermediate.crt"),
         "-CRLfile", str(ca.crl_path), "-crl_check", "-purpose", "sslclient",
         "-x509_strict", str(leaf)],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode in (0, 2), result.stderr
    return result.returncode == 0


@pytest.mark.parametrize("name", CASES)
def test_openssl_agrees(
    name: str, ca: CertificateAuthority, foreign_ca: CertificateAuthority, tmp_path: Path,
    require_tool: Callable[[str], str],
) -> None:
    openssl = require_tool("openssl")
    build, our_code, openssl_ok = CASES[name]
    leaf = build(ca, foreign_ca)
    path = tmp_path / "leaf.pem"
    path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    verifier = CertificateVerifier.from_ca_dir(ca.directory)
    try:
        verifier.verify(leaf)
        code = None
    except VerificationError as exc:
        code = exc.code
    assert code == our_code
    openssl_accepts = _openssl_accepts(openssl, ca, path)
    assert openssl_accepts is openssl_ok
    # never more lenient than OpenSSL: what it refuses we refuse, what we accept it accepts
    assert openssl_accepts or code is not None
    assert code is not None or openssl_accepts


def test_openssl_reads_our_ca_files(ca: CertificateAuthority,
                                    require_tool: Callable[[str], str], tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    crl = subprocess.run([openssl, "crl", "-in", str(ca.crl_path), "-noout", "-CAfile",
                          str(ca.directory / "ca.pem")], capture_output=True, text=True,
                         timeout=30)
    assert crl.returncode == 0 and "verify OK" in crl.stderr + crl.stdout, crl.stderr
    text = subprocess.run([openssl, "x509", "-in", str(ca.directory / "intermediate.crt"),
                           "-noout", "-text"], capture_output=True, text=True, timeout=30)
    assert "CA:TRUE, pathlen:0" in text.stdout
    assert "Certificate Sign, CRL Sign" in text.stdout


def test_openssl_decrypts_an_encrypted_key(tmp_path: Path,
                                           require_tool: Callable[[str], str]) -> None:
    openssl = require_tool("openssl")
    ca = CertificateAuthority.init(tmp_path / "ca", "city.example", passphrase=b"pa55 word")
    key = ca.directory / "intermediate.key"
    assert b"ENCRYPTED PRIVATE KEY" in key.read_bytes()
    ok = subprocess.run([openssl, "pkey", "-in", str(key), "-passin", "pass:pa55 word",
                         "-noout"], capture_output=True, timeout=30)
    bad = subprocess.run([openssl, "pkey", "-in", str(key), "-passin", "pass:wrong",
                          "-noout"], capture_output=True, timeout=30)
    assert ok.returncode == 0 and bad.returncode != 0
