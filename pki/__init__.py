"""zonegate PKI: a small CA issuing short-lived ECDSA P-256 certificates with SPIFFE IDs.

Depends on nothing else of zonegate. The public surface:

    CertificateAuthority.init(dir, trust_domain, ...) / .open(dir, passphrase=None)
    ca.issue(...) / ca.renew(cert) -> IssuedCertificate; ca.revoke(serial); ca.write_crl()
    CertificateVerifier.from_ca_dir(dir, trust_domain=...).verify(leaf) -> VerifiedIdentity
    pki.errors: the exception tree (PKIError, VerificationError and its coded subclasses)
"""

from __future__ import annotations

from pki.authority import CertificateAuthority
from pki.issued import IssuedCertificate
from pki.spiffe import SpiffeId, parse_spiffe_id
from pki.verify import CertificateVerifier, VerifiedIdentity

__all__ = [
    "CertificateAuthority",
    "CertificateVerifier",
    "IssuedCertificate",
    "SpiffeId",
    "VerifiedIdentity",
    "parse_spiffe_id",
]
