"""The certificate authority: a root, an intermediate, and what the intermediate issues.

Directory layout (see docs/pki.md):

    root.crt  root.key  intermediate.crt  intermediate.key  ca.pem  crl.pem
    inventory.json  inventory.journal.jsonl  ca.json  .lock

The root key is used only by `init`; day-to-day issuance, revocation and CRLs use the
intermediate key, loaded on first use. Every change holds the directory lock and makes the
inventory change durable (pki.inventory: one journal line) before anything is handed out.
A CertificateAuthority keeps the inventory it last read and, under the lock, catches up with
what other processes appended, so a change costs O(1) however large the inventory is.
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec

from pki.crl import build_crl
from pki.durable import atomic_write, ca_lock, check_private_mode, read_bytes
from pki.errors import (
    CAExists,
    CANotFound,
    InvalidArgument,
    IssuanceRefused,
    PKIError,
    RenewalRefused,
    VerificationError,
)
from pki.inventory import (
    ARCHIVE_NAME,
    INVENTORY_NAME,
    JOURNAL_NAME,
    Inventory,
    InventoryEntry,
    RevocationReason,
)
from pki.issued import IssuedCertificate
from pki.pem import (
    certificate_pem,
    chain_pem,
    fingerprint,
    load_certificate,
    load_private_key,
    private_key_pem,
)
from pki.policy import build_request, parse_dns_names, parse_ip_addresses
from pki.profiles import (
    BACKDATE,
    IPAddress,
    LeafRequest,
    Usage,
    ca_certificate,
    ca_name,
    leaf_certificate,
    sans_of,
    usages_of,
)
from pki.settings import SETTINGS_NAME, CASettings
from pki.spiffe import Kind, SpiffeId, parse_spiffe_id
from pki.units import format_duration, format_serial

__all__ = ["CA_FILES", "CertificateAuthority", "IssuedCertificate"]


ROOT_CRT, ROOT_KEY = "root.crt", "root.key"
INTERMEDIATE_CRT, INTERMEDIATE_KEY = "intermediate.crt", "intermediate.key"
BUNDLE, CRL = "ca.pem", "crl.pem"
CA_FILES = (ROOT_CRT, ROOT_KEY, INTERMEDIATE_CRT, INTERMEDIATE_KEY, BUNDLE, CRL,
            INVENTORY_NAME, SETTINGS_NAME)
ROOT_LIFETIME = timedelta(days=3650)
# how long past the renewal grace an entry stays in inventory.json before the archive
PRUNE_AFTER = timedelta(days=1)
INTERMEDIATE_LIFETIME = timedelta(days=365)


def _now(now: datetime | None) -> datetime:
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


class CertificateAuthority:
    """A zonegate CA directory; build it with `init` or `open`."""

    def __init__(
        self,
        directory: Path,
        settings: CASettings,
        root: x509.Certificate,
        intermediate: x509.Certificate,
        passphrase: bytes | None,
    ) -> None:
        self.directory = directory
        self.settings = settings
        self.root = root
        self.intermediate = intermediate
        self._passphrase = passphrase
        self._key: ec.EllipticCurvePrivateKey | None = None
        self._inventory: Inventory | None = None  # read and changed only under the lock

    @property
    def trust_domain(self) -> str:
        """The SPIFFE trust domain this CA issues for."""
        return self.settings.trust_domain

    # -- creation and opening ------------------------------------------------------------

    @classmethod
    def init(
        cls,
        directory: Path,
        trust_domain: str,
        *,
        passphrase: bytes | None = None,
        default_lifetime: timedelta = timedelta(hours=24),
        max_lifetime: timedelta = timedelta(hours=24),
        renew_grace: timedelta = timedelta(hours=72),
        crl_lifetime: timedelta = timedelta(hours=48),
        now: datetime | None = None,
    ) -> CertificateAuthority:
        """Create a root (10 years) and an intermediate (1 year) in `directory`.

        Refuses with CAExists when any CA file is already there.
        """
        settings = CASettings(
            trust_domain=trust_domain, encrypted=passphrase is not None,
            default_lifetime=default_lifetime, max_lifetime=max_lifetime,
            renew_grace=renew_grace, crl_lifetime=crl_lifetime,
        )
        moment = _now(now)
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise PKIError(f"cannot create CA directory {directory}: {exc.strerror}") from exc
        with ca_lock(directory):
            present = [name for name in (*CA_FILES, ARCHIVE_NAME, JOURNAL_NAME)
                       if (directory / name).exists()]
            if present:
                raise CAExists(f"{directory} already holds a CA ({', '.join(present)}); "
                               "refusing to overwrite it")
            root_key = ec.generate_private_key(ec.SECP256R1())
            root = ca_certificate(
                subject=ca_name(trust_domain, "Root"), public_key=root_key.public_key(),
                issuer=None, issuer_key=root_key, not_before=moment, lifetime=ROOT_LIFETIME,
                path_length=1,
            )
            key = ec.generate_private_key(ec.SECP256R1())
            intermediate = ca_certificate(
                subject=ca_name(trust_domain, "Intermediate"), public_key=key.public_key(),
                issuer=root, issuer_key=root_key, not_before=moment,
                lifetime=INTERMEDIATE_LIFETIME, path_length=0,
            )
            for name, data in ((ROOT_KEY, private_key_pem(root_key, passphrase)),
                               (INTERMEDIATE_KEY, private_key_pem(key, passphrase))):
                atomic_write(directory / name, data, mode=0o600, overwrite=False)
            atomic_write(directory / ROOT_CRT, certificate_pem(root), overwrite=False)
            atomic_write(directory / INTERMEDIATE_CRT, certificate_pem(intermediate),
                         overwrite=False)
            atomic_write(directory / BUNDLE, chain_pem([intermediate, root]), overwrite=False)
            ca = cls(directory, settings, root, intermediate, passphrase)
            ca._key = key
            inventory = Inventory.load(directory)
            ca._write_crl_locked(inventory, moment, None)
            ca._inventory = inventory
            # ca.json last: its presence marks a complete CA.
            settings.save(directory)
        return ca

    @classmethod
    def open(cls, directory: Path, passphrase: bytes | None = None) -> CertificateAuthority:
        """Open an existing CA; the intermediate key is read (and decrypted) on first use."""
        if not (directory / SETTINGS_NAME).exists():
            raise CANotFound(f"{directory} is not a zonegate CA directory (no {SETTINGS_NAME}; "
                             "create one with `zonegate pki init`)")
        settings = CASettings.load(directory)
        root = cls._read_cert(directory / ROOT_CRT)
        intermediate = cls._read_cert(directory / INTERMEDIATE_CRT)
        return cls(directory, settings, root, intermediate, passphrase)

    @staticmethod
    def _read_cert(path: Path) -> x509.Certificate:
        if not path.exists():
            raise CANotFound(f"{path} is missing from the CA directory")
        return load_certificate(read_bytes(path, "certificate"), str(path))

    def _signing_key(self) -> ec.EllipticCurvePrivateKey:
        if self._key is None:
            path = self.directory / INTERMEDIATE_KEY
            if not path.exists():
                raise CANotFound(f"{path} is missing from the CA directory")
            check_private_mode(path)
            key = load_private_key(read_bytes(path, "private key"), str(path), self._passphrase)
            if key.public_key() != self.intermediate.public_key():
                raise PKIError(f"{path} does not belong to {self.directory / INTERMEDIATE_CRT}")
            self._key = key
        return self._key

    # -- issuance ------------------------------------------------------------------------

    def issue(
        self,
        *,
        zone: str | None = None,
        kind: Kind | None = None,
        name: str | None = None,
        usages: Sequence[Usage] = ("client",),
        dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
        lifetime: timedelta | None = None,
        csr: x509.CertificateSigningRequest | None = None,
        csr_source: str = "CSR",
        now: datetime | None = None,
    ) -> IssuedCertificate:
        """Issue a leaf for `spiffe://<td>/zone/<zone>/<kind>/<name>`.

        Without `csr` a P-256 key is generated and returned in `key_pem`; with `csr` its
        key is certified and its requests are checked against the policy. The identity may
        come from the CSR's SPIFFE URI SAN when zone/kind/name are all None.
        """
        identity = None
        if zone is not None or kind is not None or name is not None:
            if zone is None or kind is None or name is None:
                raise IssuanceRefused("an identity needs a zone and a device id or service name")
            identity = SpiffeId.build(self.trust_domain, zone, kind, name)
        return self._issue(
            identity=identity, usages=tuple(sorted(set(usages))),
            dns_names=parse_dns_names(dns_names), ip_addresses=parse_ip_addresses(ip_addresses),
            lifetime=lifetime, csr=csr, csr_source=csr_source, now=now, renewed_from=None,
        )

    def renew(
        self,
        certificate: x509.Certificate,
        *,
        csr: x509.CertificateSigningRequest | None = None,
        csr_source: str = "CSR",
        now: datetime | None = None,
    ) -> IssuedCertificate:
        """Issue a new certificate with the same identity, usages and names as `certificate`.

        Allowed while it is valid and within the grace period after it expired; refused
        (RenewalRefused) when it is not ours, not in the inventory, revoked, or too old.
        """
        moment = _now(now)
        try:
            certificate.verify_directly_issued_by(self.intermediate)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise RenewalRefused("the certificate to renew was not issued by this CA") from exc
        serial = format_serial(certificate.serial_number)
        deadline = certificate.not_valid_after_utc + self.settings.renew_grace
        if moment > deadline:
            raise RenewalRefused(
                f"certificate {serial} expired at {_iso(certificate.not_valid_after_utc)}"
                f" and the renewal grace period of {format_duration(self.settings.renew_grace)} "
                f"ended at {_iso(deadline)}; issue a new certificate instead"
            )
        with self._changing() as inventory:
            entry = inventory.find(certificate.serial_number)
        if not hmac.compare_digest(entry.fingerprint, fingerprint(certificate)):
            raise RenewalRefused(f"certificate {entry.serial} does not match the inventory")
        if entry.revoked_at is not None:
            raise RenewalRefused(f"certificate {entry.serial} ({entry.spiffe_id}) was revoked "
                                 f"at {entry.revoked_at}; it cannot be renewed")
        uris, dns, ips = sans_of(certificate)
        if len(uris) != 1:
            raise RenewalRefused(f"certificate {entry.serial} does not carry one SPIFFE ID")
        try:
            identity = parse_spiffe_id(uris[0], trust_domain=self.trust_domain)
        except VerificationError as exc:
            raise RenewalRefused(f"certificate {entry.serial}: {exc.detail}") from exc
        original = certificate.not_valid_after_utc - certificate.not_valid_before_utc - BACKDATE
        return self._issue(
            identity=identity, usages=usages_of(certificate), dns_names=tuple(dns),
            ip_addresses=tuple(ips), lifetime=min(original, self.settings.max_lifetime),
            csr=csr, csr_source=csr_source, now=moment, renewed_from=entry.serial,
        )

    def _issue(
        self,
        *,
        identity: SpiffeId | None,
        usages: tuple[Usage, ...],
        dns_names: tuple[str, ...],
        ip_addresses: tuple[IPAddress, ...],
        lifetime: timedelta | None,
        csr: x509.CertificateSigningRequest | None,
        csr_source: str,
        now: datetime | None,
        renewed_from: str | None,
    ) -> IssuedCertificate:
        moment = _now(now)
        span = self._check_lifetime(lifetime, moment)
        key = None if csr is not None else ec.generate_private_key(ec.SECP256R1())
        request = build_request(
            trust_domain=self.trust_domain, identity=identity, usages=usages,
            dns_names=dns_names, ip_addresses=ip_addresses,
            public_key=None if key is None else key.public_key(), csr=csr,
            csr_source=csr_source,
        )
        signing_key = self._signing_key()
        cert = leaf_certificate(request, issuer=self.intermediate, issuer_key=signing_key,
                                not_before=moment - BACKDATE, not_after=moment + span)
        entry = _entry(cert, request, moment, renewed_from, "csr" if csr else "generated")
        with self._changing() as inventory:
            if renewed_from is not None:  # revoked since renew() looked?
                current = inventory.find(int(renewed_from, 16))
                if current.revoked_at is not None:
                    raise RenewalRefused(f"certificate {current.serial} ({current.spiffe_id}) "
                                         f"was revoked at {current.revoked_at}; it cannot be "
                                         "renewed")
            # entries past their renewal window are history: keep the live set small
            inventory.prune(moment - self.settings.renew_grace - PRUNE_AFTER)
            inventory.add(entry)
            inventory.save()
        return IssuedCertificate(cert, self.intermediate, request.spiffe_id, entry,
                                 None if key is None else private_key_pem(key))

    def _check_lifetime(self, lifetime: timedelta | None, moment: datetime) -> timedelta:
        span = self.settings.default_lifetime if lifetime is None else lifetime
        if span < timedelta(minutes=1):
            raise IssuanceRefused(f"lifetime {format_duration(span)} is shorter than 1m")
        if span > self.settings.max_lifetime:
            raise IssuanceRefused(
                f"lifetime {format_duration(span)} exceeds this CA's maximum of "
                f"{format_duration(self.settings.max_lifetime)} (set at init: --max-lifetime)"
            )
        if moment + span > self.intermediate.not_valid_after_utc:
            raise IssuanceRefused(
                f"the certificate would outlive the intermediate CA, which expires at "
                f"{self.intermediate.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}"
            )
        return span

    # -- revocation ----------------------------------------------------------------------

    def revoke(
        self, serial: int, reason: RevocationReason = "unspecified", *, now: datetime | None = None
    ) -> InventoryEntry:
        """Mark `serial` revoked in the inventory and publish a new CRL at once."""
        moment = _now(now)
        try:
            flag = x509.ReasonFlags(reason)
        except ValueError as exc:
            raise InvalidArgument(
                f"revocation reason {reason!r} is not an RFC 5280 reason"
            ) from exc
        if flag is x509.ReasonFlags.remove_from_crl:
            raise InvalidArgument("revocation reason removeFromCRL is not supported")
        self._signing_key()  # fail on a bad passphrase before changing anything
        with self._changing() as inventory:
            entry = inventory.revoke(serial, reason, moment)
            inventory.save()
            self._write_crl_locked(inventory, moment, None)
        return entry

    def write_crl(self, *, now: datetime | None = None,
                  lifetime: timedelta | None = None) -> Path:
        """Sign a new CRL of every revoked certificate and write `crl.pem`; returns its path."""
        moment = _now(now)
        self._signing_key()
        with self._changing() as inventory:
            return self._write_crl_locked(inventory, moment, lifetime)

    def _write_crl_locked(self, inventory: Inventory, moment: datetime,
                          lifetime: timedelta | None) -> Path:
        inventory.set_crl_number(inventory.crl_number + 1)
        inventory.save()  # a crash after this only skips a CRL number
        revoked = [
            (int(e.serial, 16), datetime.fromisoformat(e.revoked_at or ""),
             x509.ReasonFlags(e.revocation_reason or "unspecified"))
            for e in inventory.revoked()
        ]
        data = build_crl(
            issuer=self.intermediate, issuer_key=self._signing_key(), revoked=revoked,
            number=inventory.crl_number, now=moment,
            lifetime=lifetime or self.settings.crl_lifetime,
        )
        path = self.directory / CRL
        atomic_write(path, data)
        return path

    @contextlib.contextmanager
    def _changing(self) -> Iterator[Inventory]:
        """Hold the lock and yield the inventory, brought up to date with the files."""
        with ca_lock(self.directory):
            inventory, self._inventory = self._inventory, None
            if inventory is None:
                inventory = Inventory.load(self.directory)
            else:
                inventory.refresh()
            yield inventory  # on any error the copy is dropped: the files are the truth
            self._inventory = inventory

    def entries(self, *, archived: bool = False) -> list[InventoryEntry]:
        """Certificates in the inventory, oldest first; with `archived`, the archive first."""
        inventory = Inventory.load(self.directory)
        return [*inventory.archived(), *inventory.entries] if archived else inventory.entries

    @property
    def crl_path(self) -> Path:
        """Where the current CRL lives."""
        return self.directory / CRL


def _iso(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%SZ}"


def _entry(cert: x509.Certificate, request: LeafRequest, moment: datetime,
           renewed_from: str | None, source: str) -> InventoryEntry:
    sid = request.spiffe_id
    return InventoryEntry(
        serial=format_serial(cert.serial_number), spiffe_id=sid.uri, zone=sid.zone,
        kind=sid.kind, name=sid.name, usages=tuple(request.usages),
        dns=request.dns_names, ips=tuple(str(ip) for ip in request.ip_addresses),
        not_before=cert.not_valid_before_utc.isoformat(),
        not_after=cert.not_valid_after_utc.isoformat(), fingerprint=fingerprint(cert),
        issued_at=moment.isoformat(), source=source, renewed_from=renewed_from,
    )

