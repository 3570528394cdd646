"""Creating and opening a CA, key protection, and what a leaf contains."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from pki.authority import CA_FILES, CertificateAuthority
from pki.errors import (
    CACorrupt,
    CAExists,
    CANotFound,
    InvalidArgument,
    IssuanceRefused,
    OutputExists,
    PassphraseError,
    UnsafeKeyFile,
)
from pki.passphrase import resolve_passphrase
from pki.pem import load_certificates


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_writes_the_documented_layout(ca: CertificateAuthority) -> None:
    names = {p.name for p in ca.directory.iterdir()}
    assert names == {*CA_FILES, ".lock"}
    assert _mode(ca.directory) == 0o700
    for key in ("root.key", "intermediate.key"):
        assert _mode(ca.directory / key) == 0o600
    bundle = load_certificates((ca.directory / "ca.pem").read_bytes(), "ca.pem")
    assert bundle == [ca.intermediate, ca.root]
    assert not list(ca.directory.glob("*.tmp")) and not list(ca.directory.glob(".*.tmp"))


def test_root_and_intermediate_profiles(ca: CertificateAuthority) -> None:
    root, inter = ca.root, ca.intermediate
    assert root.subject == root.issuer and inter.issuer == root.subject
    for cert, years, pathlen in ((root, 10, 1), (inter, 1, 0)):
        key = cert.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
        span = cert.not_valid_after_utc - cert.not_valid_before_utc
        assert abs(span - timedelta(days=365 * years)) < timedelta(days=3)
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        assert basic.critical and basic.value.ca and basic.value.path_length == pathlen
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
        assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    inter.verify_directly_issued_by(root)


@pytest.mark.parametrize("existing", ["root.key", "ca.json", "inventory.json", "crl.pem"])
def test_init_refuses_to_overwrite(tmp_path: Path, existing: str) -> None:
    directory = tmp_path / "ca"
    directory.mkdir()
    (directory / existing).write_text("keep me")
    with pytest.raises(CAExists, match=existing):
        CertificateAuthority.init(directory, "city.example")
    assert (directory / existing).read_text() == "keep me"


def test_init_twice_keeps_the_first_ca(ca: CertificateAuthority) -> None:
    before = (ca.directory / "root.crt").read_bytes()
    with pytest.raises(CAExists):
        CertificateAuthority.init(ca.directory, "city.example")
    assert (ca.directory / "root.crt").read_bytes() == before


@pytest.mark.parametrize("domain", ["City.Example", "", "a..b", "city.example:8443", "x/y"])
def test_init_rejects_a_bad_trust_domain(tmp_path: Path, domain: str) -> None:
    with pytest.raises(InvalidArgument, match="trust domain"):
        CertificateAuthority.init(tmp_path / "ca", domain)
    assert not (tmp_path / "ca" / "root.key").exists()


def test_open_a_non_ca_directory(tmp_path: Path) -> None:
    with pytest.raises(CANotFound, match="pki init"):
        CertificateAuthority.open(tmp_path)


def test_encrypted_keys_need_the_passphrase(tmp_path: Path) -> None:
    directory = tmp_path / "ca"
    CertificateAuthority.init(directory, "city.example", passphrase=b"correct horse")
    for name in ("root.key", "intermediate.key"):
        assert (directory / name).read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY")
    with pytest.raises(PassphraseError, match="is encrypted"):
        CertificateAuthority.open(directory).issue(zone="z", kind="device", name="d")
    with pytest.raises(PassphraseError, match="wrong passphrase"):
        CertificateAuthority.open(directory, b"wrong").issue(zone="z", kind="device", name="d")
    assert CertificateAuthority.open(directory).entries() == []  # listing needs no key
    issued = CertificateAuthority.open(directory, b"correct horse").issue(
        zone="z", kind="device", name="d")
    assert issued.spiffe_id.uri == "spiffe://city.example/zone/z/device/d"


def test_plain_key_with_a_passphrase_is_refused(ca: CertificateAuthority) -> None:
    with pytest.raises(PassphraseError, match="not encrypted"):
        CertificateAuthority.open(ca.directory, b"x").issue(zone="z", kind="device", name="d")


def test_key_readable_by_others_is_refused(ca: CertificateAuthority) -> None:
    (ca.directory / "intermediate.key").chmod(0o644)
    with pytest.raises(UnsafeKeyFile, match="chmod 600"):
        CertificateAuthority.open(ca.directory).issue(zone="z", kind="device", name="d")


def test_passphrase_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZG_PASS", "from-env")
    assert resolve_passphrase(env="ZG_PASS") == b"from-env"
    file = tmp_path / "pass"
    file.write_bytes(b"from-file\nsecond line ignored\n")
    assert resolve_passphrase(file=file) == b"from-file"
    assert resolve_passphrase() is None
    monkeypatch.setenv("ZG_EMPTY", "")
    for kwargs, error, match in (
        ({"env": "ZG_UNSET_VARIABLE"}, PassphraseError, "ZG_UNSET_VARIABLE"),
        ({"env": "ZG_EMPTY"}, PassphraseError, "empty"),
        ({"file": tmp_path / "missing"}, PassphraseError, "does not exist"),
        ({"env": "ZG_PASS", "file": file}, InvalidArgument, "not both"),
    ):
        with pytest.raises(error, match=match):
            resolve_passphrase(**kwargs)


def test_leaf_profile(ca: CertificateAuthority) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    issued = ca.issue(zone="health", kind="device", name="cam-7")
    cert = issued.certificate
    ext = cert.extensions
    basic = ext.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca is False
    usage = ext.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature
    assert not usage.value.key_cert_sign and not usage.value.crl_sign
    eku = ext.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    san = ext.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        "spiffe://city.example/zone/health/device/cam-7"]
    assert len(list(san)) == 1
    span = cert.not_valid_after_utc - before
    assert span in (timedelta(hours=24), timedelta(hours=24, seconds=1))
    assert cert.not_valid_before_utc <= before - timedelta(seconds=59)
    assert issued.key_pem is not None and b"PRIVATE KEY" in issued.key_pem
    cert.verify_directly_issued_by(ca.intermediate)


def test_server_leaf_carries_dns_and_ip(ca: CertificateAuthority) -> None:
    issued = ca.issue(zone="transport", kind="svc", name="gw", usages=("server", "client"),
                      dns_names=["GW.Transport.Local.", "gw.transport.local"],
                      ip_addresses=["127.0.0.1", "::1"])
    san = issued.certificate.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["gw.transport.local"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    eku = issued.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH}


REFUSED: dict[str, tuple[dict[str, object], type[Exception], str]] = {
    "lifetime-over-max": ({"lifetime": timedelta(hours=25)}, IssuanceRefused, "maximum"),
    "lifetime-too-short": ({"lifetime": timedelta(seconds=10)}, IssuanceRefused, "shorter"),
    "server-without-names": ({"usages": ("server",)}, IssuanceRefused, "DNS name or IP"),
    "names-without-server": ({"dns_names": ["a.local"]}, IssuanceRefused, "only granted"),
    "wildcard-dns": ({"usages": ("server",), "dns_names": ["*.local"]}, InvalidArgument,
                     "wildcards"),
    "bad-ip": ({"usages": ("server",), "ip_addresses": ["300.1.1.1"]}, InvalidArgument,
               "IP address"),
    "bad-zone": ({"zone": "../etc"}, InvalidArgument, "zone"),
    "bad-name": ({"name": "cam 7"}, InvalidArgument, "device"),
    "long-name": ({"name": "x" * 64}, InvalidArgument, "1-63"),
    "bad-kind": ({"kind": "printer"}, InvalidArgument, "kind"),
    "half-identity": ({"zone": None}, IssuanceRefused, "zone"),
    "no-usage": ({"usages": ()}, InvalidArgument, "usage"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_issuing_policy_refuses(ca: CertificateAuthority, case: str) -> None:
    overrides, error, match = REFUSED[case]
    kwargs: dict[str, object] = {"zone": "health", "kind": "device", "name": "cam-1",
                                 **overrides}
    with pytest.raises(error, match=match):
        ca.issue(**kwargs)  # type: ignore[arg-type]
    assert ca.entries() == []


def test_lifetime_within_a_raised_maximum(tmp_path: Path) -> None:
    ca = CertificateAuthority.init(tmp_path / "ca", "city.example",
                                   max_lifetime=timedelta(days=7))
    issued = ca.issue(zone="z", kind="device", name="d", lifetime=timedelta(days=7))
    cert = issued.certificate
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=7, minutes=1)


def test_leaf_may_not_outlive_the_intermediate(ca: CertificateAuthority) -> None:
    late = ca.intermediate.not_valid_after_utc - timedelta(hours=1)
    with pytest.raises(IssuanceRefused, match="outlive the intermediate"):
        ca.issue(zone="z", kind="device", name="d", now=late)


def test_settings_validation(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="exceeds the maximum"):
        CertificateAuthority.init(tmp_path / "a", "city.example",
                                  default_lifetime=timedelta(days=2))
    with pytest.raises(InvalidArgument, match="negative"):
        CertificateAuthority.init(tmp_path / "b", "city.example",
                                  renew_grace=timedelta(seconds=-1))


@pytest.mark.parametrize("content", [b"", b"{", b"[]", b'{"version": 2}',
                                     b'{"version": 1, "trust_domain": "city.example", "x": 1}',
                                     b'{"version": 1}',
                                     b'{"version": 1, "trust_domain": "city.example", '
                                     b'"max_lifetime": 5}'])
def test_corrupt_settings_are_named(ca: CertificateAuthority, content: bytes) -> None:
    (ca.directory / "ca.json").write_bytes(content)
    with pytest.raises(CACorrupt, match=r"ca\.json"):
        CertificateAuthority.open(ca.directory)


def test_outputs_are_written_with_modes_and_not_overwritten(
        ca: CertificateAuthority, tmp_path: Path) -> None:
    issued = ca.issue(zone="z", kind="device", name="d")
    cert, key, chain = tmp_path / "d.crt", tmp_path / "d.key", tmp_path / "d-chain.crt"
    issued.write(cert, key_out=key, chain_out=chain)
    assert _mode(key) == 0o600
    assert load_certificates(chain.read_bytes(), "chain") == [issued.certificate,
                                                               ca.intermediate]
    with pytest.raises(OutputExists):
        issued.write(cert, key_out=key)
    other = ca.issue(zone="z", kind="device", name="e")
    other.write(cert, key_out=key, overwrite=True)
    assert load_certificates(cert.read_bytes(), "c") == [other.certificate]
