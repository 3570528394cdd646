"""The issuing policy: what a leaf may contain, and what a CSR may ask for.

A CSR contributes its public key and, when the command line names no identity, its SPIFFE
URI SAN. Everything else the certificate says comes from the operator and the CA settings;
a CSR that asks for more (a CA flag, certificate signing, another usage, a name the
operator did not grant, an unknown extension) is refused, not silently trimmed, so the
requester learns what was not granted.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from pki.errors import InvalidArgument, IssuanceRefused, VerificationError
from pki.profiles import IPAddress, LeafRequest, Usage
from pki.spiffe import SpiffeId, parse_spiffe_id

__all__ = ["build_request", "parse_dns_names", "parse_ip_addresses", "require_p256"]

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DNS = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_ALLOWED_CSR_EXTENSIONS = (
    x509.SubjectAlternativeName, x509.KeyUsage, x509.ExtendedKeyUsage, x509.BasicConstraints,
)
_EKU_USAGE = {ExtendedKeyUsageOID.CLIENT_AUTH: "client", ExtendedKeyUsageOID.SERVER_AUTH: "server"}


def parse_dns_names(values: Sequence[str]) -> tuple[str, ...]:
    """Lowercase, validated DNS names; wildcards and IDN U-labels are refused."""
    names: list[str] = []
    for value in values:
        name = value.strip().lower().rstrip(".")
        if len(name) > 253 or not _DNS.fullmatch(name):
            raise InvalidArgument(
                f"DNS name {value!r} is invalid (letters, digits and '-' in dot-separated "
                "labels; no wildcards)"
            )
        if name not in names:
            names.append(name)
    return tuple(names)


def parse_ip_addresses(values: Sequence[str]) -> tuple[IPAddress, ...]:
    """Validated IPv4/IPv6 addresses."""
    addresses: list[IPAddress] = []
    for value in values:
        try:
            address = ipaddress.ip_address(value.strip())
        except ValueError as exc:
            raise InvalidArgument(f"IP address {value!r} is invalid") from exc
        if address not in addresses:
            addresses.append(address)
    return tuple(addresses)


def require_p256(key: object, source: str) -> ec.EllipticCurvePublicKey:
    """The key if it is ECDSA P-256, else IssuanceRefused."""
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise IssuanceRefused(f"{source}: the key must be ECDSA P-256")
    return key


def build_request(
    *,
    trust_domain: str,
    identity: SpiffeId | None,
    usages: tuple[Usage, ...],
    dns_names: tuple[str, ...],
    ip_addresses: tuple[IPAddress, ...],
    public_key: ec.EllipticCurvePublicKey | None,
    csr: x509.CertificateSigningRequest | None = None,
    csr_source: str = "CSR",
) -> LeafRequest:
    """Check one issuance against the policy and return what the leaf will contain."""
    if csr is not None:
        identity = _check_csr(csr, csr_source, trust_domain, identity, usages,
                              dns_names, ip_addresses)
        public_key = require_p256(csr.public_key(), csr_source)
    if identity is None:
        raise InvalidArgument(
            "no identity: give --zone with --device or --service, or a CSR whose URI SAN is "
            "a SPIFFE ID"
        )
    if public_key is None:
        raise InvalidArgument("no public key: internal caller passed neither key nor CSR")
    if not usages:
        raise InvalidArgument("at least one usage (client or server) is required")
    has_names = bool(dns_names or ip_addresses)
    if "server" in usages and not has_names:
        raise IssuanceRefused(
            "a server certificate needs at least one DNS name or IP address (--dns/--ip) "
            "that clients check"
        )
    if has_names and "server" not in usages:
        raise IssuanceRefused("DNS/IP names are only granted to server certificates "
                              "(add --usage server)")
    return LeafRequest(identity, public_key, usages, dns_names, ip_addresses)


def _check_csr(
    csr: x509.CertificateSigningRequest,
    source: str,
    trust_domain: str,
    identity: SpiffeId | None,
    usages: tuple[Usage, ...],
    dns_names: tuple[str, ...],
    ip_addresses: tuple[IPAddress, ...],
) -> SpiffeId | None:
    for extension in csr.extensions:
        value = extension.value
        if not isinstance(value, _ALLOWED_CSR_EXTENSIONS):
            raise IssuanceRefused(f"{source}: asks for extension {extension.oid.dotted_string}, "
                                  "which zonegate does not grant")
        if isinstance(value, x509.BasicConstraints) and value.ca:
            raise IssuanceRefused(f"{source}: asks for a CA certificate (cA=true)")
        if isinstance(value, x509.KeyUsage):
            _check_key_usage(value, source)
        if isinstance(value, x509.ExtendedKeyUsage):
            for oid in value:
                usage = _EKU_USAGE.get(oid)
                if usage is None or usage not in usages:
                    raise IssuanceRefused(
                        f"{source}: asks for extended key usage {oid.dotted_string}, not "
                        f"granted (granted: {', '.join(usages)})"
                    )
        if isinstance(value, x509.SubjectAlternativeName):
            identity = _check_csr_names(value, source, trust_domain, identity,
                                        dns_names, ip_addresses)
    return identity


def _check_key_usage(usage: x509.KeyUsage, source: str) -> None:
    asked = [name for name in ("content_commitment", "key_encipherment", "data_encipherment",
                               "key_agreement", "key_cert_sign", "crl_sign")
             if getattr(usage, name)]
    if asked:
        raise IssuanceRefused(f"{source}: asks for key usage {', '.join(asked)}; zonegate "
                              "leaves carry digitalSignature only")


def _check_csr_names(
    san: x509.SubjectAlternativeName,
    source: str,
    trust_domain: str,
    identity: SpiffeId | None,
    dns_names: tuple[str, ...],
    ip_addresses: tuple[IPAddress, ...],
) -> SpiffeId | None:
    for name in san:
        if not isinstance(name, x509.UniformResourceIdentifier | x509.DNSName | x509.IPAddress):
            raise IssuanceRefused(f"{source}: asks for a {type(name).__name__} name, which "
                                  "zonegate does not grant")
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    if len(uris) > 1:
        raise IssuanceRefused(f"{source}: asks for {len(uris)} URI SANs; an X509-SVID has one")
    if uris:
        try:
            asked = parse_spiffe_id(uris[0], trust_domain=trust_domain)
        except VerificationError as exc:
            raise IssuanceRefused(f"{source}: {exc.detail}") from exc
        if identity is not None and asked != identity:
            raise IssuanceRefused(f"{source}: asks for {asked.uri}, but the issuance is for "
                                  f"{identity.uri}")
        identity = asked
    for dns in san.get_values_for_type(x509.DNSName):
        if dns.lower().rstrip(".") not in dns_names:
            raise IssuanceRefused(f"{source}: asks for DNS name {dns!r}, not granted "
                                  "(grant it with --dns)")
    for ip in san.get_values_for_type(x509.IPAddress):
        if ip not in ip_addresses:
            raise IssuanceRefused(f"{source}: asks for IP address {ip}, not granted "
                                  "(grant it with --ip)")
    return identity
