"""The verifier: one round trip, then every attack rejected with its own error class."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from pki.authority import CertificateAuthority
from pki.errors import (
    BadKeyUsage,
    BadSignature,
    BadSpiffeId,
    CertificateExpired,
    CertificateNotYetValid,
    CertificateRevoked,
    CRLError,
    CRLStale,
    CRLUnavailable,
    InvalidArgument,
    LeafIsCA,
    MissingSpiffeId,
    MultipleUriSans,
    NotClientCertificate,
    NotServerCertificate,
    PKIError,
    ServerNameMismatch,
    UntrustedChain,
    VerificationError,
    WrongTrustDomain,
)
from pki.profiles import Usage
from pki.verify import CertificateVerifier, VerifiedIdentity
from tests.pki.forge import (
    CLIENT,
    SERVER,
    forge_leaf,
    intermediate_key,
    key_usage,
    tamper_body,
    tamper_signature,
)

NOW = datetime.now(UTC)


def test_round_trip_device(ca: CertificateAuthority) -> None:
    issued = ca.issue(zone="health", kind="device", name="cam-7")
    identity = CertificateVerifier.from_ca_dir(ca.directory, "city.example").verify(
        issued.certificate)
    assert identity == VerifiedIdentity(
        spiffe_id="spiffe://city.example/zone/health/device/cam-7",
        trust_domain="city.example", zone="health", kind="device", name="cam-7",
        fingerprint=issued.entry.fingerprint, serial=issued.serial,
        not_after=issued.certificate.not_valid_after_utc,
    )
    assert identity.fingerprint.startswith("sha256:") and len(identity.fingerprint) == 71


def test_round_trip_service_as_server_and_client(ca: CertificateAuthority) -> None:
    issued = ca.issue(zone="transport", kind="svc", name="buses", usages=("client", "server"),
                      dns_names=["buses.transport.local"], ip_addresses=["127.0.0.1"])
    verifier = CertificateVerifier.from_ca_dir(ca.directory)
    cases: tuple[tuple[Usage, str | None], ...] = (("server", None), ("server", "127.0.0.1"),
                        ("server", "BUSES.transport.local"), ("client", None))
    for usage, name in cases:
        identity = verifier.verify(issued.certificate, usage=usage, server_name=name)
        assert (identity.kind, identity.name, identity.zone) == ("svc", "buses", "transport")


def test_peer_supplied_intermediate_is_used(ca: CertificateAuthority) -> None:
    issued = ca.issue(zone="health", kind="device", name="d1")
    verifier = CertificateVerifier(roots=[ca.root], trust_domain="city.example",
                                   require_crl=False)
    with pytest.raises(UntrustedChain):
        verifier.verify(issued.certificate)
    assert verifier.verify(issued.certificate, chain=[ca.intermediate]).name == "d1"


def _crl(ca: CertificateAuthority) -> x509.CertificateRevocationList:
    return x509.load_pem_x509_crl(ca.crl_path.read_bytes())


@dataclass
class Attack:
    """A leaf (built from our CA and a foreign one) and how it must be checked."""

    build: Callable[[CertificateAuthority, CertificateAuthority], x509.Certificate]
    error: type[VerificationError]
    code: str
    usage: Usage = "client"
    kwargs: dict[str, object] = field(default_factory=dict)


def _issued(**kwargs: object) -> Callable[[CertificateAuthority, CertificateAuthority],
                                          x509.Certificate]:
    def build(ca: CertificateAuthority, _: CertificateAuthority) -> x509.Certificate:
        return ca.issue(**kwargs).certificate  # type: ignore[arg-type]
    return build


def _forged(**kwargs: object) -> Callable[[CertificateAuthority, CertificateAuthority],
                                          x509.Certificate]:
    def build(ca: CertificateAuthority, _: CertificateAuthority) -> x509.Certificate:
        return forge_leaf(ca, **kwargs).cert  # type: ignore[arg-type]
    return build


def _revoked(ca: CertificateAuthority, _: CertificateAuthority) -> x509.Certificate:
    issued = ca.issue(zone="health", kind="device", name="stolen")
    ca.revoke(issued.serial, "keyCompromise")
    return issued.certificate


def _foreign(_: CertificateAuthority, foreign: CertificateAuthority) -> x509.Certificate:
    return foreign.issue(zone="health", kind="device", name="cam-1").certificate


def _foreign_renamed(ca: CertificateAuthority, foreign: CertificateAuthority
                     ) -> x509.Certificate:
    # signed by a foreign key under an issuer name that is not ours at all
    forged = forge_leaf(ca, signer=intermediate_key(foreign))
    return tamper_body(forged.cert, b"Intermediate CA", b"Intermediate XX")


def _self_signed(ca: CertificateAuthority, _: CertificateAuthority) -> x509.Certificate:
    forged = forge_leaf(ca)
    name = x509.Name.from_rfc4514_string("CN=forged")
    return forge_leaf(ca, signer=forged.key, issuer=name).cert


def _our_name_other_key(ca: CertificateAuthority, _: CertificateAuthority
                        ) -> x509.Certificate:
    # our issuer name, an AKI that names the attacker's key: a look-alike, not a tamper
    return forge_leaf(ca, signer=forge_leaf(ca).key).cert


def _tampered_sig(ca: CertificateAuthority, _: CertificateAuthority) -> x509.Certificate:
    return tamper_signature(ca.issue(zone="health", kind="device", name="cam-1").certificate)


def _tampered_body(ca: CertificateAuthority, _: CertificateAuthority) -> x509.Certificate:
    cert = ca.issue(zone="health", kind="device", name="cam-1").certificate
    return tamper_body(cert, b"/device/cam-1", b"/device/cam-9")


ATTACKS = {
    "foreign-ca-same-names": Attack(_foreign, UntrustedChain, "untrusted-chain"),
    "foreign-ca-other-names": Attack(_foreign_renamed, UntrustedChain, "untrusted-chain"),
    "self-signed-leaf": Attack(_self_signed, UntrustedChain, "untrusted-chain"),
    "our-name-other-key": Attack(_our_name_other_key, UntrustedChain, "untrusted-chain"),
    "tampered-signature": Attack(_tampered_sig, BadSignature, "bad-signature"),
    "tampered-spiffe-id": Attack(_tampered_body, BadSignature, "bad-signature"),
    "expired": Attack(_issued(zone="health", kind="device", name="old",
                              now=NOW - timedelta(days=2)),
                      CertificateExpired, "cert-expired"),
    "not-yet-valid": Attack(_forged(not_before=NOW + timedelta(hours=2)),
                            CertificateNotYetValid, "cert-not-yet-valid"),
    "revoked": Attack(_revoked, CertificateRevoked, "cert-revoked"),
    "wrong-trust-domain": Attack(
        _forged(uris=["spiffe://other.example/zone/health/device/cam-1"]),
        WrongTrustDomain, "wrong-trust-domain"),
    "two-uri-sans": Attack(
        _forged(uris=["spiffe://city.example/zone/health/device/cam-1",
                      "spiffe://city.example/zone/health/device/cam-2"]),
        MultipleUriSans, "multiple-uri-sans"),
    "no-uri-san": Attack(_forged(uris=[], dns=["cam-1.local"]),
                         MissingSpiffeId, "missing-spiffe-id"),
    "no-san-at-all": Attack(_forged(uris=[]), MissingSpiffeId, "missing-spiffe-id"),
    "not-spiffe-scheme": Attack(_forged(uris=["https://city.example/zone/health/device/x"]),
                                BadSpiffeId, "bad-spiffe-id"),
    "bad-path-shape": Attack(_forged(uris=["spiffe://city.example/zone/health/printer/x"]),
                             BadSpiffeId, "bad-spiffe-id"),
    "dot-dot-segment": Attack(_forged(uris=["spiffe://city.example/zone/../device/x"]),
                              BadSpiffeId, "bad-spiffe-id"),
    "ca-true-leaf": Attack(_forged(ca_flag=True), LeafIsCA, "leaf-is-ca"),
    "leaf-can-sign-certs": Attack(_forged(ku=key_usage(cert_sign=True)),
                                  BadKeyUsage, "bad-key-usage"),
    "no-digital-signature": Attack(_forged(ku=key_usage(digital_signature=False)),
                                   BadKeyUsage, "bad-key-usage"),
    "missing-client-auth": Attack(
        _issued(zone="health", kind="svc", name="api", usages=("server",),
                dns_names=["api.local"]),
        NotClientCertificate, "not-client-cert"),
    "no-eku-at-all": Attack(_forged(ekus=None), NotClientCertificate, "not-client-cert"),
    "client-cert-as-server": Attack(_issued(zone="health", kind="device", name="cam-1"),
                                    NotServerCertificate, "not-server-cert", usage="server"),
    "server-without-names": Attack(_forged(ekus=[SERVER, CLIENT]), NotServerCertificate,
                                   "not-server-cert", usage="server"),
    "server-name-mismatch": Attack(
        _issued(zone="health", kind="svc", name="api", usages=("server",),
                dns_names=["api.local"]),
        ServerNameMismatch, "server-name-mismatch", usage="server",
        kwargs={"server_name": "evil.local"}),
    "server-ip-mismatch": Attack(
        _issued(zone="health", kind="svc", name="api", usages=("server",),
                ip_addresses=["127.0.0.1"]),
        ServerNameMismatch, "server-name-mismatch", usage="server",
        kwargs={"server_name": "127.0.0.2"}),
}


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_rejected_with_its_own_error(
    name: str, ca: CertificateAuthority, foreign_ca: CertificateAuthority
) -> None:
    attack = ATTACKS[name]
    leaf = attack.build(ca, foreign_ca)
    verifier = CertificateVerifier.from_ca_dir(ca.directory, "city.example")
    with pytest.raises(VerificationError) as caught:
        verifier.verify(leaf, usage=attack.usage, **attack.kwargs)  # type: ignore[arg-type]
    assert type(caught.value) is attack.error, caught.value
    assert caught.value.code == attack.code
    assert str(caught.value).startswith(f"{attack.code}: ")
    assert isinstance(caught.value, PKIError)


def test_every_code_is_distinct_kebab_case() -> None:
    codes = [cls.code for cls in _subclasses(VerificationError)]
    assert len(codes) == len(set(codes))
    for code in codes:
        assert code == code.lower() and " " not in code and "_" not in code


def _subclasses(cls: type[VerificationError]) -> list[type[VerificationError]]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found += _subclasses(sub)
    return found


def test_chain_depth_is_bounded_by_the_path_builder(ca: CertificateAuthority) -> None:
    # a leaf that the intermediate never signed cannot ride in on a presented chain
    forged = forge_leaf(ca)
    other = forge_leaf(ca, signer=forged.key, issuer=forged.cert.subject, subject="deeper")
    verifier = CertificateVerifier.from_ca_dir(ca.directory)
    with pytest.raises(UntrustedChain):
        verifier.verify(other.cert, chain=[forged.cert])


def test_missing_crl_fails_closed_unless_disabled(ca: CertificateAuthority) -> None:
    leaf = ca.issue(zone="health", kind="device", name="d").certificate
    strict = CertificateVerifier(roots=[ca.root], intermediates=[ca.intermediate],
                                 trust_domain="city.example")
    with pytest.raises(CRLUnavailable):
        strict.verify(leaf)
    lax = CertificateVerifier(roots=[ca.root], intermediates=[ca.intermediate],
                              trust_domain="city.example", require_crl=False)
    assert lax.verify(leaf).name == "d"


def test_stale_crl_fails_closed(tmp_path: Path) -> None:
    ca = CertificateAuthority.init(tmp_path / "ca", "city.example",
                                   crl_lifetime=timedelta(minutes=1))
    leaf = ca.issue(zone="health", kind="device", name="d").certificate
    verifier = CertificateVerifier.from_ca_dir(ca.directory)
    assert verifier.verify(leaf).name == "d"
    with pytest.raises(CRLStale):
        verifier.verify(leaf, now=datetime.now(UTC) + timedelta(minutes=5))


def test_crl_from_a_foreign_ca_is_refused(ca: CertificateAuthority,
                                          foreign_ca: CertificateAuthority) -> None:
    with pytest.raises(CRLError, match="not signed by any of our CAs"):
        CertificateVerifier(roots=[ca.root], intermediates=[ca.intermediate],
                            crls=[_crl(foreign_ca)], trust_domain="city.example")


def test_reload_crl_picks_up_a_revocation(ca: CertificateAuthority) -> None:
    issued = ca.issue(zone="health", kind="device", name="d")
    verifier = CertificateVerifier.from_ca_dir(ca.directory)
    before = verifier.crl_mtime()
    assert verifier.verify(issued.certificate).name == "d"
    ca.revoke(issued.serial)
    assert verifier.verify(issued.certificate).name == "d"  # old CRL still loaded
    verifier.reload_crl()
    assert verifier.crl_mtime() is not None
    assert before is not None
    with pytest.raises(CertificateRevoked):
        verifier.verify(issued.certificate)


@pytest.mark.parametrize("content", [b"", b"garbage", b"-----BEGIN X509 CRL-----\nAAAA\n"
                                     b"-----END X509 CRL-----\n"])
def test_bad_crl_on_reload_keeps_the_old_one(ca: CertificateAuthority, content: bytes) -> None:
    issued = ca.issue(zone="health", kind="device", name="d")
    ca.revoke(issued.serial)
    verifier = CertificateVerifier.from_ca_dir(ca.directory)
    ca.crl_path.write_bytes(content)
    with pytest.raises(CRLError):
        verifier.reload_crl()
    with pytest.raises(CertificateRevoked):
        verifier.verify(issued.certificate)


def test_reload_without_a_crl_file_is_an_error(ca: CertificateAuthority) -> None:
    verifier = CertificateVerifier(roots=[ca.root], trust_domain="city.example")
    with pytest.raises(InvalidArgument):
        verifier.reload_crl()


def test_naive_now_is_taken_as_utc(ca: CertificateAuthority) -> None:
    leaf = ca.issue(zone="health", kind="device", name="d").certificate
    verifier = CertificateVerifier.from_ca_dir(ca.directory)
    naive_future = (datetime.now(UTC) + timedelta(days=2)).replace(tzinfo=None)
    with pytest.raises(CertificateExpired):
        verifier.verify(leaf, now=naive_future)


def test_bad_arguments_are_refused(ca: CertificateAuthority) -> None:
    leaf = ca.issue(zone="health", kind="device", name="d").certificate
    with pytest.raises(InvalidArgument, match="usage"):
        CertificateVerifier.from_ca_dir(ca.directory).verify(leaf, usage="admin")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="trust domain"):
        CertificateVerifier(roots=[ca.root], trust_domain="Not A Domain")
    with pytest.raises(InvalidArgument, match="at least one root"):
        CertificateVerifier(roots=[], trust_domain="city.example")
