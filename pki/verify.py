"""Verifying a peer certificate: chain to our root, validity, revocation, SPIFFE rules.

The chain itself is built and checked by `cryptography.x509.verification` (RFC 5280 path
validation, signatures, validity of every certificate, basicConstraints, EKU); CRL checks
and the X509-SVID rules are ours. Before handing the leaf to the path builder we run the
cheap, specific checks so that each rejection names its own reason (`VerificationError`
subclasses with stable `code`s); the path builder then has the last word, so a check we
forgot still cannot let a certificate through.

State (trust anchors, intermediates, verified CRLs) is one immutable object;
`reload_crl` and `install_crl` build a new one and swap the reference, so a verification
in flight never sees a half update.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import verification

from pki.crl import load_crl, signing_ca
from pki.durable import read_bytes
from pki.errors import (
    BadKeyUsage,
    BadSignature,
    CANotFound,
    CertificateExpired,
    CertificateNotYetValid,
    CertificateRevoked,
    CRLError,
    CRLStale,
    CRLUnavailable,
    InvalidArgument,
    LeafIsCA,
    MalformedCertificate,
    MissingSpiffeId,
    MultipleUriSans,
    NotClientCertificate,
    NotServerCertificate,
    ServerNameMismatch,
    UntrustedChain,
)
from pki.pem import DECODE_ERRORS, fingerprint, load_certificates
from pki.profiles import Usage, sans_of, usages_of
from pki.settings import SETTINGS_NAME, CASettings
from pki.spiffe import Kind, parse_spiffe_id, validate_trust_domain

__all__ = ["CertificateVerifier", "VerifiedIdentity"]

# root -> intermediate -> leaf; a longer chain is never ours.
_MAX_CHAIN_DEPTH = 2
_SHA256 = hashes.SHA256()


def _crl_number(crl: x509.CertificateRevocationList) -> int:
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return -1


def _crl_order(crl: x509.CertificateRevocationList) -> tuple[datetime, int]:
    return crl.last_update_utc, _crl_number(crl)


@dataclass(frozen=True, slots=True)
class VerifiedIdentity:
    """Who a verified certificate says its holder is."""

    spiffe_id: str
    trust_domain: str
    zone: str
    kind: Kind
    name: str
    fingerprint: str
    serial: int
    not_after: datetime


@dataclass(frozen=True, slots=True)
class _State:
    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...]
    # CRLs whose signature verified, keyed by the DER of the signing CA's subject
    crls: dict[bytes, x509.CertificateRevocationList]
    store: verification.Store


class CertificateVerifier:
    """Verifies leaf certificates against our roots, intermediates and CRLs."""

    def __init__(
        self,
        *,
        roots: Sequence[x509.Certificate],
        intermediates: Sequence[x509.Certificate] = (),
        crls: Sequence[x509.CertificateRevocationList] = (),
        trust_domain: str,
        require_crl: bool = True,
        crl_path: Path | None = None,
    ) -> None:
        """Trust `roots`; check revocation against `crls` (each must be signed by one of
        the given CAs). With `require_crl` (the default) a leaf whose issuer has no CRL is
        rejected (`crl-unavailable`). `crl_path` is the file `reload_crl` re-reads.
        """
        if not roots:
            raise InvalidArgument("a verifier needs at least one root certificate")
        validate_trust_domain(trust_domain)
        self.trust_domain = trust_domain
        self.require_crl = require_crl
        self.crl_path = crl_path
        self._state = self._build(tuple(roots), tuple(intermediates), tuple(crls))

    @classmethod
    def from_ca_dir(
        cls, ca_dir: Path, trust_domain: str | None = None, *, require_crl: bool = True
    ) -> CertificateVerifier:
        """A verifier for the CA in `ca_dir` (root.crt, intermediate.crt, crl.pem).

        `trust_domain` defaults to the one in the directory's ca.json.
        """
        if trust_domain is None:
            if not (ca_dir / SETTINGS_NAME).exists():
                raise CANotFound(f"{ca_dir} has no {SETTINGS_NAME}; pass trust_domain")
            trust_domain = CASettings.load(ca_dir).trust_domain
        roots = _read_certs(ca_dir / "root.crt")
        intermediates = _read_certs(ca_dir / "intermediate.crt")
        crl_path = ca_dir / "crl.pem"
        crls = [load_crl(read_bytes(crl_path, "CRL"), str(crl_path))] if crl_path.exists() else []
        return cls(roots=roots, intermediates=intermediates, crls=crls,
                   trust_domain=trust_domain, require_crl=require_crl, crl_path=crl_path)

    @staticmethod
    def _build(
        roots: tuple[x509.Certificate, ...],
        intermediates: tuple[x509.Certificate, ...],
        crls: tuple[x509.CertificateRevocationList, ...],
    ) -> _State:
        by_issuer: dict[bytes, x509.CertificateRevocationList] = {}
        for index, crl in enumerate(crls):
            ca = signing_ca(crl, (*intermediates, *roots), f"CRL #{index + 1}")
            key = ca.subject.public_bytes()
            current = by_issuer.get(key)
            if current is None or crl.last_update_utc > current.last_update_utc:
                by_issuer[key] = crl
        return _State(roots, intermediates, by_issuer, verification.Store(list(roots)))

    def reload_crl(self, crl_path: Path | None = None) -> None:
        """Re-read the CRL file (default: the one given at construction) and swap it in.

        On any error the previous CRL stays in force and the error is raised; a CRL older
        than the one in force is such an error (`install_crl`).
        """
        path = crl_path or self.crl_path
        if path is None:
            raise InvalidArgument("this verifier was built without a CRL file to reload")
        self.install_crl(load_crl(read_bytes(path, "CRL"), str(path)), str(path))
        self.crl_path = path

    def install_crl(self, crl: x509.CertificateRevocationList, source: str) -> bool:
        """Put `crl` in force in place of the CRLs held now; False when it already is.

        It must be signed by one of our CAs and must not be older (`lastUpdate`, then CRL
        number) than the CRL in force for its issuer: a revocation, once seen, is never
        undone by replaying an earlier CRL (CRLError, and the CRL in force stays).
        """
        state = self._state
        new = self._build(state.roots, state.intermediates, (crl,))
        (issuer,) = new.crls
        current = state.crls.get(issuer)
        if current is not None:
            if current.fingerprint(_SHA256) == crl.fingerprint(_SHA256):
                return False
            if _crl_order(crl) < _crl_order(current):
                raise CRLError(
                    f"{source}: older than the CRL in force (lastUpdate "
                    f"{crl.last_update_utc:%Y-%m-%dT%H:%M:%SZ}, number {_crl_number(crl)}; "
                    f"in force {current.last_update_utc:%Y-%m-%dT%H:%M:%SZ}, number "
                    f"{_crl_number(current)})")
        self._state = new
        return True

    def crl_next_update(self) -> datetime | None:
        """The earliest `nextUpdate` among the CRLs in force (None: no CRL, or none set)."""
        times = [crl.next_update_utc for crl in self._state.crls.values()
                 if crl.next_update_utc is not None]
        return min(times, default=None)

    def crl_mtime(self) -> int | None:
        """The CRL file's modification time in ns (for callers that poll for changes)."""
        if self.crl_path is None:
            return None
        try:
            return self.crl_path.stat().st_mtime_ns
        except FileNotFoundError:
            return None

    # -- verification --------------------------------------------------------------------

    def verify(
        self,
        leaf: x509.Certificate,
        chain: Sequence[x509.Certificate] = (),
        usage: Usage = "client",
        now: datetime | None = None,
        server_name: str | None = None,
    ) -> VerifiedIdentity:
        """Verify `leaf` (with the peer's `chain` of intermediates) for `usage`.

        Returns the verified identity or raises a VerificationError subclass whose `code`
        names the reason. For `usage="server"` the name checked is `server_name`, or the
        leaf's first DNS/IP SAN when none is given.
        """
        if usage not in ("client", "server"):
            raise InvalidArgument(f"usage {usage!r} is not 'client' or 'server'")
        state = self._state
        moment = _aware(now)
        for cert in (leaf, *chain):
            _require_parsable(cert)
        _check_issuer(leaf, state, chain)
        _check_validity(leaf, moment)
        _check_profile(leaf, usage)
        identity = self._check_spiffe(leaf)
        verified_chain = self._check_path(leaf, chain, usage, moment, server_name, state)
        _check_revocation(verified_chain, state, moment, self.require_crl)
        return identity

    def _check_spiffe(self, leaf: x509.Certificate) -> VerifiedIdentity:
        uris, _, _ = sans_of(leaf)
        if not uris:
            raise MissingSpiffeId("the certificate has no URI SAN (SPIFFE ID)")
        if len(uris) > 1:
            raise MultipleUriSans(f"the certificate has {len(uris)} URI SANs; an X509-SVID "
                                  "has exactly one")
        sid = parse_spiffe_id(uris[0], trust_domain=self.trust_domain)
        return VerifiedIdentity(
            spiffe_id=sid.uri, trust_domain=sid.trust_domain, zone=sid.zone, kind=sid.kind,
            name=sid.name, fingerprint=fingerprint(leaf), serial=leaf.serial_number,
            not_after=leaf.not_valid_after_utc,
        )

    @staticmethod
    def _check_path(
        leaf: x509.Certificate,
        chain: Sequence[x509.Certificate],
        usage: Usage,
        moment: datetime,
        server_name: str | None,
        state: _State,
    ) -> list[x509.Certificate]:
        builder = (verification.PolicyBuilder().store(state.store).time(moment)
                   .max_chain_depth(_MAX_CHAIN_DEPTH))
        intermediates = [*state.intermediates, *chain]
        try:
            if usage == "client":
                return builder.build_client_verifier().verify(leaf, intermediates).chain
            subject = _server_subject(leaf, server_name)
            return builder.build_server_verifier(subject).verify(leaf, intermediates)
        except verification.VerificationError as exc:
            raise UntrustedChain(f"path validation to our root failed: {exc}") from exc


def _aware(now: datetime | None) -> datetime:
    moment = now or datetime.now(UTC)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _read_certs(path: Path) -> list[x509.Certificate]:
    if not path.exists():
        raise CANotFound(f"{path} is missing from the CA directory")
    return load_certificates(read_bytes(path, "certificate"), str(path))


def _require_parsable(cert: x509.Certificate) -> None:
    """Parse the lazily decoded parts now, so a malformed one is named, not a crash."""
    try:
        cert.extensions  # noqa: B018 - decoding is the point
        cert.issuer  # noqa: B018
        cert.subject  # noqa: B018
        cert.not_valid_before_utc  # noqa: B018
        cert.not_valid_after_utc  # noqa: B018
    except DECODE_ERRORS as exc:
        raise MalformedCertificate(f"the certificate cannot be decoded: {exc}") from exc
    if cert.serial_number <= 0:
        raise MalformedCertificate("the serial number is not positive (RFC 5280 4.1.2.2)")


def _key_id(cert: x509.Certificate, cls: type[x509.ExtensionType]) -> bytes | None:
    try:
        value = cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None
    if isinstance(value, x509.AuthorityKeyIdentifier):
        return value.key_identifier
    if isinstance(value, x509.SubjectKeyIdentifier):
        return value.digest
    return None


def _check_issuer(
    leaf: x509.Certificate, state: _State, chain: Sequence[x509.Certificate]
) -> None:
    """Tell a tampered certificate of ours (bad-signature) from a stranger's (untrusted)."""
    ours = [ca for ca in (*state.intermediates, *state.roots) if ca.subject == leaf.issuer]
    if not ours:
        if any(ca.subject == leaf.issuer for ca in chain):
            return  # a presented intermediate; the path builder decides whether it is ours
        raise UntrustedChain(f"issuer {leaf.issuer.rfc4514_string()!r} is not one of our CAs")
    authority_key = _key_id(leaf, x509.AuthorityKeyIdentifier)
    for ca in ours:
        try:
            leaf.verify_directly_issued_by(ca)
            return
        except (ValueError, TypeError, InvalidSignature):
            continue
    if authority_key is not None and any(
        authority_key == _key_id(ca, x509.SubjectKeyIdentifier) for ca in ours
    ):
        raise BadSignature("the certificate names our CA and its key, but its signature "
                           "does not verify (tampered)")
    raise UntrustedChain(f"issuer {leaf.issuer.rfc4514_string()!r} has our CA's name but "
                         "not its key (a look-alike CA)")


def _check_validity(leaf: x509.Certificate, moment: datetime) -> None:
    if moment < leaf.not_valid_before_utc:
        raise CertificateNotYetValid(
            f"valid from {leaf.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ}, "
            f"now is {moment:%Y-%m-%dT%H:%M:%SZ}"
        )
    if moment > leaf.not_valid_after_utc:
        raise CertificateExpired(
            f"expired at {leaf.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}, "
            f"now is {moment:%Y-%m-%dT%H:%M:%SZ}"
        )


def _check_profile(leaf: x509.Certificate, usage: Usage) -> None:
    try:
        basic = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
        if basic.ca:
            raise LeafIsCA("the leaf asserts basicConstraints cA=true")
    except x509.ExtensionNotFound:
        pass  # RFC 5280 allows a leaf without basicConstraints: it is not a CA
    try:
        key_usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound as exc:
        raise BadKeyUsage("the leaf has no keyUsage extension") from exc
    if not key_usage.digital_signature or key_usage.key_cert_sign or key_usage.crl_sign:
        raise BadKeyUsage("the leaf's keyUsage must have digitalSignature and neither "
                          "keyCertSign nor cRLSign")
    if usage not in usages_of(leaf):
        if usage == "client":
            raise NotClientCertificate("the certificate has no clientAuth extended key usage")
        raise NotServerCertificate("the certificate has no serverAuth extended key usage")


def _server_subject(leaf: x509.Certificate, server_name: str | None) -> verification.Subject:
    _, dns, ips = sans_of(leaf)
    if server_name is None:
        if dns:
            return x509.DNSName(dns[0])
        if ips:
            return x509.IPAddress(ips[0])
        raise NotServerCertificate("the certificate has no DNS or IP name to check")
    try:
        address = ipaddress.ip_address(server_name)
    except ValueError:
        if server_name.lower().rstrip(".") not in [d.lower() for d in dns]:
            raise ServerNameMismatch(f"{server_name!r} is not among the certificate's DNS "
                                     f"names {dns}") from None
        return x509.DNSName(server_name.lower().rstrip("."))
    if address not in ips:
        raise ServerNameMismatch(f"{server_name} is not among the certificate's IP addresses")
    return x509.IPAddress(address)


def _check_revocation(
    chain: list[x509.Certificate], state: _State, moment: datetime, require_crl: bool
) -> None:
    # chain[0] is the leaf, chain[-1] the root; the root is never revoked by CRL.
    for cert, issuer in itertools.pairwise(chain):
        crl = state.crls.get(issuer.subject.public_bytes())
        if crl is None:
            if require_crl and cert is chain[0]:
                raise CRLUnavailable(
                    f"no CRL from {issuer.subject.rfc4514_string()!r} is loaded"
                )
            continue
        next_update = crl.next_update_utc
        if next_update is None or next_update < moment:
            raise CRLStale(
                f"the CRL of {issuer.subject.rfc4514_string()!r} expired at "
                f"{next_update:%Y-%m-%dT%H:%M:%SZ}; run `zonegate pki crl`"
                if next_update else "the CRL has no nextUpdate"
            )
        revoked = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if revoked is not None:
            # the stub types the Rust class apart from the ABC it is registered with
            if not isinstance(revoked, x509.RevokedCertificate):
                raise CertificateRevoked(f"serial {cert.serial_number:x} is on the CRL")
            raise CertificateRevoked(
                f"serial {cert.serial_number:x} was revoked at "
                f"{revoked.revocation_date_utc:%Y-%m-%dT%H:%M:%SZ}{_reason(revoked)}"
            )


def _reason(revoked: x509.RevokedCertificate) -> str:
    try:
        reason = revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        return ""
    return f" ({reason.value})"
