"""Renewal keeps the identity; after expiry it is allowed only within the grace period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pki.authority import CertificateAuthority
from pki.errors import IssuanceRefused, RenewalRefused, SerialNotFound
from pki.verify import CertificateVerifier
from tests.pki.forge import forge_leaf


def _server(ca: CertificateAuthority, now: datetime | None = None) -> x509.Certificate:
    return ca.issue(zone="transport", kind="svc", name="gw", usages=("client", "server"),
                    dns_names=["gw.local"], ip_addresses=["10.0.0.1"], now=now).certificate


def test_renewal_keeps_identity_usages_and_names(ca: CertificateAuthority) -> None:
    old = _server(ca)
    renewed = ca.renew(old)
    new = renewed.certificate
    assert new.serial_number != old.serial_number
    assert new.public_key() != old.public_key()  # a fresh key by default
    for cls in (x509.SubjectAlternativeName, x509.ExtendedKeyUsage, x509.KeyUsage,
                x509.BasicConstraints):
        assert new.extensions.get_extension_for_class(cls).value == \
            old.extensions.get_extension_for_class(cls).value
    assert renewed.entry.renewed_from == f"{old.serial_number:x}"
    assert CertificateVerifier.from_ca_dir(ca.directory).verify(new, usage="server").name == "gw"


@pytest.mark.parametrize(("expired_for", "allowed"), [
    (timedelta(hours=-1), True),        # still valid
    (timedelta(hours=1), True),         # offline device, back within the grace period
    (timedelta(hours=71), True),
    (timedelta(hours=73), False),       # grace (72h) over
    (timedelta(days=30), False),
])
def test_renew_after_expiry_within_grace(ca: CertificateAuthority, expired_for: timedelta,
                                         allowed: bool) -> None:
    start = datetime.now(UTC) - timedelta(days=2)
    old = ca.issue(zone="health", kind="device", name="meter-9", now=start).certificate
    when = old.not_valid_after_utc + expired_for
    if allowed:
        new = ca.renew(old, now=when).certificate
        assert new.not_valid_before_utc == when - timedelta(minutes=1)
    else:
        with pytest.raises(RenewalRefused, match="grace period of 3d"):
            ca.renew(old, now=when)


def test_zero_grace_means_no_renewal_after_expiry(tmp_path: Path) -> None:
    ca = CertificateAuthority.init(tmp_path / "ca", "city.example", renew_grace=timedelta(0))
    old = ca.issue(zone="z", kind="device", name="d",
                   now=datetime.now(UTC) - timedelta(days=2)).certificate
    with pytest.raises(RenewalRefused):
        ca.renew(old, now=old.not_valid_after_utc + timedelta(seconds=1))


def test_revoked_certificate_cannot_be_renewed(ca: CertificateAuthority) -> None:
    issued = ca.issue(zone="z", kind="device", name="d")
    ca.revoke(issued.serial, "keyCompromise")
    with pytest.raises(RenewalRefused, match="revoked"):
        ca.renew(issued.certificate)


def test_foreign_certificate_cannot_be_renewed(ca: CertificateAuthority,
                                               foreign_ca: CertificateAuthority) -> None:
    cert = foreign_ca.issue(zone="z", kind="device", name="d").certificate
    with pytest.raises(RenewalRefused, match="not issued by this CA"):
        ca.renew(cert)


def test_certificate_missing_from_inventory_cannot_be_renewed(
        ca: CertificateAuthority) -> None:
    forged = forge_leaf(ca)  # signed with our key, but never issued
    with pytest.raises(SerialNotFound):
        ca.renew(forged.cert)


def test_renewal_with_a_csr_for_the_same_identity(ca: CertificateAuthority) -> None:
    old = ca.issue(zone="z", kind="device", name="d").certificate
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "d")]))
           .sign(key, hashes.SHA256()))
    renewed = ca.renew(old, csr=csr)
    assert renewed.certificate.public_key() == key.public_key() and renewed.key_pem is None
    other = (x509.CertificateSigningRequestBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "d")]))
             .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(
                 "spiffe://city.example/zone/z/device/someone-else")]), critical=False)
             .sign(key, hashes.SHA256()))
    with pytest.raises(IssuanceRefused, match="someone-else"):
        ca.renew(old, csr=other)
