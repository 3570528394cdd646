"""A subordinate CA signed by the root, for TLS interception (the egress proxy).

The day-to-day intermediate has pathLenConstraint 0 and may only sign leaves, so it cannot
certify another CA. An interception proxy (mitmproxy) needs a CA key of its own that signs
a leaf for every site it intercepts; `issue_subordinate_ca` makes one, signed by the root
(pathLenConstraint 1 allows exactly one CA below it), itself with pathLenConstraint 0.
Terminals that trust our root then accept the proxy's certificates; nothing else changes.

It is not recorded in inventory.json (which lists SPIFFE leaves) and cannot be revoked by
our CRL (the intermediate signs the CRL, not the root): keep its lifetime short and rotate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from pki.authority import ROOT_CRT, ROOT_KEY, CertificateAuthority
from pki.durable import atomic_write, check_private_mode, read_bytes
from pki.errors import InvalidArgument, IssuanceRefused, OutputExists, PKIError
from pki.pem import certificate_pem, chain_pem, load_private_key, private_key_pem
from pki.profiles import ca_certificate, ca_name

__all__ = ["MAX_SUBORDINATE_LIFETIME", "SubordinateCA", "issue_subordinate_ca"]

MAX_SUBORDINATE_LIFETIME = timedelta(days=365)
_ROLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 \-]{0,39}$")


@dataclass(frozen=True, slots=True)
class SubordinateCA:
    """A root-signed CA certificate (pathLen 0) and its private key."""

    certificate: x509.Certificate
    root: x509.Certificate
    key_pem: bytes

    @property
    def certificate_pem(self) -> bytes:
        """The subordinate CA certificate alone, PEM."""
        return certificate_pem(self.certificate)

    @property
    def chain_pem(self) -> bytes:
        """Subordinate then root, PEM."""
        return chain_pem([self.certificate, self.root])

    def write(self, cert_out: Path, key_out: Path, *, overwrite: bool = False) -> None:
        """Write the certificate (0644) and the key (0600); refuses to overwrite by default."""
        for path in (cert_out, key_out):
            if not overwrite and path.exists():
                raise OutputExists(f"{path} exists; refusing to overwrite it (use --force)")
        atomic_write(key_out, self.key_pem, mode=0o600, overwrite=overwrite)
        atomic_write(cert_out, self.certificate_pem, overwrite=overwrite)


def issue_subordinate_ca(
    ca: CertificateAuthority,
    *,
    role: str = "Egress Interception",
    lifetime: timedelta = timedelta(days=90),
    passphrase: bytes | None = None,
    key_passphrase: bytes | None = None,
    now: datetime | None = None,
) -> SubordinateCA:
    """Sign a new P-256 CA certificate ``<td> <role> CA`` with the root key.

    `passphrase` decrypts root.key (the CA's passphrase); `key_passphrase` encrypts the
    returned key (None: unencrypted, for a proxy that must load it unattended).
    """
    if not _ROLE.match(role):
        raise InvalidArgument(f"role must be 1-40 letters, digits, spaces or '-', got {role!r}")
    if lifetime < timedelta(hours=1) or lifetime > MAX_SUBORDINATE_LIFETIME:
        raise IssuanceRefused(f"a subordinate CA lives between 1 hour and "
                              f"{MAX_SUBORDINATE_LIFETIME.days} days, got {lifetime}")
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    root = ca.root
    if moment + lifetime > root.not_valid_after_utc:
        raise IssuanceRefused("the subordinate CA would outlive the root CA, which expires at "
                              f"{root.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}")
    key_path = ca.directory / ROOT_KEY
    if not key_path.exists():
        raise PKIError(f"{key_path} is missing: only the CA holding the root key can do this")
    check_private_mode(key_path)
    root_key = load_private_key(read_bytes(key_path, "private key"), str(key_path), passphrase)
    if root_key.public_key() != root.public_key():
        raise PKIError(f"{key_path} does not belong to {ca.directory / ROOT_CRT}")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = ca_certificate(
        subject=ca_name(ca.trust_domain, role), public_key=key.public_key(), issuer=root,
        issuer_key=root_key, not_before=moment, lifetime=lifetime, path_length=0,
    )
    return SubordinateCA(cert, root, private_key_pem(key, key_passphrase))
