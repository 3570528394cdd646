"""The combined Authenticator: certificates (pki/), XFCC trust, cnf binding, the factory."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography import x509

from gateway.config import parse_config
from gateway.identity import (
    ANONYMOUS,
    IdentitySetupError,
    InvalidCredentials,
    IssuerOptions,
    Presented,
    build_authenticator,
)
from gateway.identity.mtls import x5t_s256
from gateway.idp import DevIdP
from tests.gateway.identity.conftest import LocalCA, MakeAuth

TLS = """tls:
  cert: gw.crt
  key: gw.key
  client_ca: ca.pem
  client_cert: {mode}
  trusted_xfcc_from: ["10.9.0.0/16", "::1/128"]
"""
FRONT_PROXY, STRANGER = "10.9.0.7", "192.0.2.44"


def with_tls(mode: str) -> str:
    return TLS.format(mode=mode)


def xfcc_for(pem: bytes, *, der: bytes | None = None, uri: str | None = None,
             extra: str = "") -> str:
    parts = ["By=spiffe://city.example/zone/edge/svc/envoy", f'Cert="{quote(pem.decode())}"']
    if der is not None:
        parts.append(f"Hash={hashlib.sha256(der).hexdigest()}")
    if uri is not None:
        parts.append(f"URI={uri}")
    return ";".join(parts) + extra


async def test_nothing_presented_is_anonymous(idp: DevIdP, make_auth: MakeAuth,
                                              test_ca: LocalCA) -> None:
    auth = make_auth(idp.issuer, extra=with_tls("optional"), certificates=test_ca.verifier())
    result = await auth.authenticate(Presented(peer_ip=STRANGER))
    assert result.subject is ANONYMOUS and result.certificate is None


@pytest.mark.parametrize(("kind", "subject_type"), [("device", "device"), ("svc", "service")])
async def test_certificate_alone(idp: DevIdP, make_auth: MakeAuth, test_ca: LocalCA, kind: str,
                                 subject_type: str) -> None:
    workload = test_ca.issue("health", kind, "pump-7")
    auth = make_auth(idp.issuer, extra=with_tls("optional"), certificates=test_ca.verifier())
    result = await auth.authenticate(Presented(peer_cert_der=workload.cert_der))
    assert result.subject.type == subject_type
    assert result.subject.id == result.subject.spiffe_id == workload.spiffe_id
    assert result.certificate is not None and result.certificate.zone == "health"
    assert result.certificate.fingerprint == "sha256:" + hashlib.sha256(
        workload.cert_der).hexdigest()
    assert not result.certificate.via_xfcc


async def test_token_and_certificate(idp: DevIdP, make_auth: MakeAuth, test_ca: LocalCA) -> None:
    device = test_ca.issue("health", "device", "tablet-3")
    auth = make_auth(idp.issuer, extra=with_tls("optional"), certificates=test_ca.verifier())
    result = await auth.authenticate(Presented(authorization=f"Bearer {idp.mint(user='doctor')}",
                                               peer_cert_der=device.cert_der))
    assert (result.subject.id, result.subject.type) == ("doctor", "user")
    assert result.subject.spiffe_id == device.spiffe_id
    assert result.certificate is not None and result.certificate.kind == "device"


BINDING = [
    ("bound-match", "same", "tablet", None),
    ("bound-mismatch", "other", "tablet", "certificate-binding-mismatch"),
    ("bound-no-certificate", "same", None, "certificate-binding-missing"),
    ("cnf-not-an-object", "junk", "tablet", "bad-claim"),
]


@pytest.mark.parametrize(("thumb", "present", "code"), [row[1:] for row in BINDING],
                         ids=[row[0] for row in BINDING])
async def test_rfc8705_binding(idp: DevIdP, make_auth: MakeAuth, test_ca: LocalCA, thumb: str,
                               present: str | None, code: str | None) -> None:
    tablet = test_ca.issue("health", "device", "tablet-9")
    other = test_ca.issue("health", "device", "tablet-10")
    cnf: object = {"x5t#S256": x5t_s256((tablet if thumb == "same" else other).cert_der)}
    if thumb == "junk":
        cnf = "x5t"
    token = idp.mint(user="doctor", cnf=cnf)
    auth = make_auth(idp.issuer, extra=with_tls("optional"), certificates=test_ca.verifier())
    presented = Presented(authorization=f"Bearer {token}",
                          peer_cert_der=tablet.cert_der if present else None)
    if code is None:
        assert (await auth.authenticate(presented)).subject.id == "doctor"
    else:
        with pytest.raises(InvalidCredentials) as caught:
            await auth.authenticate(presented)
        assert caught.value.code == code


async def test_untrusted_certificate(idp: DevIdP, make_auth: MakeAuth, test_ca: LocalCA,
                                     other_ca: LocalCA) -> None:
    stranger = other_ca.issue("health", "device", "pump-7")
    auth = make_auth(idp.issuer, extra=with_tls("optional"), certificates=test_ca.verifier())
    with pytest.raises(InvalidCredentials) as caught:
        await auth.authenticate(Presented(peer_cert_der=stranger.cert_der))
    assert caught.value.code == "untrusted-chain"


async def test_garbage_certificate(idp: DevIdP, make_auth: MakeAuth, test_ca: LocalCA) -> None:
    auth = make_auth(idp.issuer, extra=with_tls("optional"), certificates=test_ca.verifier())
    with pytest.raises(InvalidCredentials, match="malformed-certificate"):
        await auth.authenticate(Presented(peer_cert_der=b"\x30\x03garbage"))


async def test_revoked_certificate(idp: DevIdP, make_auth: MakeAuth, test_ca: LocalCA) -> None:
    device = test_ca.issue("health", "device", "stolen-1")
    test_ca.authority.revoke(x509.load_der_x509_certificate(device.cert_der).serial_number)
    auth = make_auth(idp.issuer, extra=with_tls("optional"), certificates=test_ca.verifier())
    with pytest.raises(InvalidCredentials, match="cert-revoked"):
        await auth.authenticate(Presented(peer_cert_der=device.cert_der))


async def test_required_mode_refuses_no_certificate(idp: DevIdP, make_auth: MakeAuth,
                                                    test_ca: LocalCA) -> None:
    auth = make_auth(idp.issuer, extra=with_tls("required"), certificates=test_ca.verifier())
    with pytest.raises(InvalidCredentials, match="certificate-required"):
        await auth.authenticate(Presented(authorization=f"Bearer {idp.mint(user='doctor')}"))


async def test_off_mode_ignores_tls_certificate(idp: DevIdP, make_auth: MakeAuth,
                                                test_ca: LocalCA) -> None:
    device = test_ca.issue("health", "device", "pump-8")
    # quoted: YAML 1.1 reads a bare `off` as false (reported to the config owner)
    auth = make_auth(idp.issuer, extra=with_tls("\"off\""), certificates=test_ca.verifier())
    assert (await auth.authenticate(Presented(peer_cert_der=device.cert_der))).subject is ANONYMOUS


# --- XFCC from a front proxy -----------------------------------------------------------


async def test_xfcc_from_trusted_peer_is_believed(idp: DevIdP, make_auth: MakeAuth,
                                                  test_ca: LocalCA) -> None:
    device = test_ca.issue("transport", "device", "cam-12")
    auth = make_auth(idp.issuer, extra=with_tls("required"), certificates=test_ca.verifier())
    header = xfcc_for(device.cert_pem, der=device.cert_der, uri=device.spiffe_id)
    for peer in (FRONT_PROXY, "::1", "::ffff:10.9.0.7"):
        result = await auth.authenticate(Presented(xfcc=header, peer_ip=peer))
        assert result.subject.type == "device" and result.subject.id == device.spiffe_id
        assert result.certificate is not None and result.certificate.via_xfcc
    assert auth.trusts_xfcc_from(FRONT_PROXY) and not auth.trusts_xfcc_from(STRANGER)


async def test_xfcc_from_untrusted_peer_is_ignored(idp: DevIdP, make_auth: MakeAuth,
                                                   test_ca: LocalCA) -> None:
    device = test_ca.issue("transport", "device", "cam-13")
    header = xfcc_for(device.cert_pem, der=device.cert_der, uri=device.spiffe_id)
    optional = make_auth(idp.issuer, extra=with_tls("optional"), certificates=test_ca.verifier())
    required = make_auth(idp.issuer, extra=with_tls("required"), certificates=test_ca.verifier())
    for peer in (STRANGER, "not-an-ip", ""):
        assert (await optional.authenticate(Presented(xfcc=header, peer_ip=peer))
                ).subject is ANONYMOUS
        with pytest.raises(InvalidCredentials, match="certificate-required"):
            await required.authenticate(Presented(xfcc=header, peer_ip=peer))
    # garbage from a stranger is not even parsed
    assert (await optional.authenticate(Presented(xfcc='Cert="', peer_ip=STRANGER))
            ).subject is ANONYMOUS


async def test_direct_certificate_wins_over_xfcc(idp: DevIdP, make_auth: MakeAuth,
                                                 test_ca: LocalCA) -> None:
    direct = test_ca.issue("edge", "svc", "proxy")
    claimed = test_ca.issue("health", "device", "pump-9")
    auth = make_auth(idp.issuer, extra=with_tls("optional"), certificates=test_ca.verifier())
    result = await auth.authenticate(Presented(
        peer_cert_der=direct.cert_der, xfcc=xfcc_for(claimed.cert_pem), peer_ip=FRONT_PROXY))
    assert result.subject.id == direct.spiffe_id


def _xfcc_bad_cases(test_ca: LocalCA, other_ca: LocalCA) -> list[tuple[str, str, str]]:
    device = test_ca.issue("health", "device", "pump-20")
    stranger = other_ca.issue("health", "device", "pump-20")
    good = xfcc_for(device.cert_pem, der=device.cert_der)
    return [
        ("unterminated-quote", 'Cert="abc', "malformed-xfcc"),
        ("no-cert", f"URI={device.spiffe_id}", "malformed-xfcc"),
        ("cert-not-a-certificate",
         'Cert="-----BEGIN%20CERTIFICATE-----%0AAAAA%0A-----END%20CERTIFICATE-----"',
         "malformed-xfcc"),
        ("hash-mismatch", xfcc_for(device.cert_pem, der=stranger.cert_der), "malformed-xfcc"),
        ("uri-mismatch", xfcc_for(device.cert_pem, uri="spiffe://city.example/zone/x/svc/y"),
         "malformed-xfcc"),
        ("two-elements", f"{good},{good}", "malformed-xfcc"),
        ("untrusted-ca", xfcc_for(stranger.cert_pem), "untrusted-chain"),
    ]


async def test_malformed_xfcc_from_trusted_peer(idp: DevIdP, make_auth: MakeAuth,
                                                test_ca: LocalCA, other_ca: LocalCA) -> None:
    auth = make_auth(idp.issuer, extra=with_tls("optional"), certificates=test_ca.verifier())
    cases = _xfcc_bad_cases(test_ca, other_ca)
    codes = []
    for _name, header, _code in cases:
        with pytest.raises(InvalidCredentials) as caught:
            await auth.authenticate(Presented(xfcc=header, peer_ip=FRONT_PROXY))
        codes.append(caught.value.code)
    assert codes == [code for _, _, code in cases]


# --- the factory -------------------------------------------------------------------------


def test_factory_needs_a_ca_for_forwarded_certificates() -> None:
    config = parse_config("trust_domain: city.example\ntls:\n  cert: gw.crt\n  key: gw.key\n"
                          "  trusted_xfcc_from: [10.0.0.0/8]\n")
    with pytest.raises(IdentitySetupError, match=r"tls\.client_ca \(or a CA directory\)"):
        build_authenticator(config)


def test_factory_loads_a_ca_directory(test_ca: LocalCA) -> None:
    config = parse_config("trust_domain: city.example\n" + with_tls("required"))
    assert build_authenticator(config, test_ca.directory).trusts_xfcc_from(FRONT_PROXY)


def test_factory_reports_a_missing_ca_directory(tmp_path: Path) -> None:
    config = parse_config("trust_domain: city.example\n" + with_tls("required"))
    with pytest.raises(IdentitySetupError, match="cannot load the CA"):
        build_authenticator(config, tmp_path / "nowhere")


def test_factory_refuses_options_for_unknown_issuer() -> None:
    config = parse_config("trust_domain: city.example\n")
    with pytest.raises(IdentitySetupError, match="unconfigured"):
        build_authenticator(config, issuer_options={"https://x": IssuerOptions()})


async def test_token_without_issuers_configured() -> None:
    auth = build_authenticator(parse_config("trust_domain: city.example\n"))
    with pytest.raises(InvalidCredentials, match="unknown-issuer"):
        await auth.authenticate(Presented(authorization="Bearer a.b.c"))
    await auth.close()


def tls_files(ca: LocalCA, crl_line: str) -> str:
    return ("trust_domain: city.example\n"
            + with_tls("required").replace("client_ca: ca.pem", f"client_ca: {ca.directory}/ca.pem")
            + crl_line)


async def test_factory_builds_from_client_ca_and_crl_files(test_ca: LocalCA) -> None:
    device = test_ca.issue("health", "device", "pump-30")
    config = parse_config(tls_files(test_ca, f"  crl: {test_ca.directory}/crl.pem\n"))
    auth = build_authenticator(config)
    result = await auth.authenticate(Presented(peer_cert_der=device.cert_der))
    assert result.subject.id == device.spiffe_id


@pytest.mark.parametrize(("crl_line", "message"), [
    ("", r"tls\.crl is required"),
    ("  crl: /nonexistent/crl.pem\n", "cannot read"),
])
def test_factory_file_errors(test_ca: LocalCA, crl_line: str, message: str) -> None:
    with pytest.raises(IdentitySetupError, match=message):
        build_authenticator(parse_config(tls_files(test_ca, crl_line)))
