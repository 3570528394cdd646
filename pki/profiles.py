"""Certificate profiles: what each kind of certificate we sign contains.

Root and intermediate follow RFC 5280 as `cryptography.x509.verification` enforces it
(critical basicConstraints and keyUsage, SKI, AKI below the root). Leaves follow the SPIFFE
X509-SVID rules: exactly one URI SAN, cA=false, keyUsage digitalSignature (critical) and
nothing that signs certificates or CRLs.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pki.errors import InvalidArgument
from pki.spiffe import SpiffeId

__all__ = [
    "BACKDATE", "ORG", "LeafRequest", "Usage", "ca_certificate", "ca_name", "leaf_certificate",
    "parse_usages", "sans_of", "usages_of",
]

Usage = Literal["client", "server"]
ORG = "zonegate"
# Leaves start a minute in the past so that a peer whose clock lags a little accepts them.
BACKDATE = timedelta(minutes=1)
_EKU: dict[Usage, x509.ObjectIdentifier] = {
    "client": ExtendedKeyUsageOID.CLIENT_AUTH,
    "server": ExtendedKeyUsageOID.SERVER_AUTH,
}
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
        encipher_only=False, decipher_only=False,
    )


def ca_name(trust_domain: str, role: str) -> x509.Name:
    """The subject of our root or intermediate."""
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG),
        x509.NameAttribute(NameOID.COMMON_NAME, f"{trust_domain} {role} CA"),
    ])


def ca_certificate(
    *,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    not_before: datetime,
    lifetime: timedelta,
    path_length: int | None,
) -> x509.Certificate:
    """A CA certificate; self-signed when `issuer` is None."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + lifetime)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass(frozen=True, slots=True)
class LeafRequest:
    """Everything a leaf certificate will say, already checked against the issuing policy."""

    spiffe_id: SpiffeId
    public_key: ec.EllipticCurvePublicKey
    usages: tuple[Usage, ...]
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[IPAddress, ...] = ()


def leaf_certificate(
    request: LeafRequest,
    *,
    issuer: x509.Certificate,
    issuer_key: ec.EllipticCurvePrivateKey,
    not_before: datetime,
    not_after: datetime,
) -> x509.Certificate:
    """Sign an X509-SVID leaf for `request`."""
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(request.spiffe_id.uri)]
    names += [x509.DNSName(name) for name in request.dns_names]
    names += [x509.IPAddress(ip) for ip in request.ip_addresses]
    subject = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, request.spiffe_id.zone),
        x509.NameAttribute(NameOID.COMMON_NAME, request.spiffe_id.name),
    ])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject)
        .public_key(request.public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([_EKU[u] for u in request.usages]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(request.public_key),
                       critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
        .sign(issuer_key, hashes.SHA256())
    )


def usages_of(cert: x509.Certificate) -> tuple[Usage, ...]:
    """The client/server usages a certificate's EKU grants (empty when it has none)."""
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(u for u, oid in _EKU.items() if oid in eku)


def sans_of(cert: x509.Certificate) -> tuple[list[str], list[str], list[IPAddress]]:
    """(URIs, DNS names, IP addresses) of a certificate's SAN; empty lists when absent."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], [], []
    return (
        san.get_values_for_type(x509.UniformResourceIdentifier),
        san.get_values_for_type(x509.DNSName),
        [ip for ip in san.get_values_for_type(x509.IPAddress)
         if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address)],
    )


def parse_usages(values: Sequence[str]) -> tuple[Usage, ...]:
    """Validate usage words (`client`, `server`) into a sorted, duplicate-free tuple."""
    result: list[Usage] = []
    for value in values:
        usage: Usage
        if value == "client":
            usage = "client"
        elif value == "server":
            usage = "server"
        else:
            raise InvalidArgument(f"usage {value!r} is not 'client' or 'server'")
        if usage not in result:
            result.append(usage)
    return tuple(sorted(result))
