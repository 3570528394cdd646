"""OPA bundles: build, sign, verify, tamper, and read a bundle in OPA's own format."""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
import tarfile
from collections.abc import Callable
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.pdp import BundleError, EmbeddedEngine
from gateway.pdp.bundle import (
    build_bundle,
    canonical_json,
    file_digest,
    read_bundle,
    read_members,
    verify_bundle,
    write_archive,
)
from tests.gateway.pdp.conftest import POLICIES, VECTORS, make_input

OPA_VECTOR = VECTORS / "opa_bundle"


def _pem_pair(kind: str) -> tuple[bytes, bytes]:
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    key = ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else \
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


@pytest.fixture(scope="module")
def ec_keys() -> tuple[bytes, bytes]:
    return _pem_pair("ec")


@pytest.fixture
def signed(tmp_path: Path, ec_keys: tuple[bytes, bytes]) -> Path:
    out = tmp_path / "bundle.tar.gz"
    build_bundle(POLICIES, out, revision="rev-7", signing_key=ec_keys[0], key_id="ops")
    return out


@pytest.mark.parametrize(("kind", "alg"), [("ec", "ES256"), ("rsa", "RS256")])
def test_build_and_verify(tmp_path: Path, kind: str, alg: str) -> None:
    private, public = _pem_pair(kind)
    out = tmp_path / "b.tar.gz"
    built = build_bundle(POLICIES, out, signing_key=private, key_id="k1", algorithm=alg)
    report = verify_bundle(out, public, key_id="k1")
    assert report.revision == built.revision
    assert set(report.files) == {".manifest", "data.json", "authz.rego", "authz_test.rego",
                                  "egress.rego", "egress_test.rego"}
    assert report.key_id == "k1"


def test_signature_format_is_opa(signed: Path) -> None:
    members = read_members(signed)
    sigs = json.loads(members[".signatures.json"])
    assert list(sigs) == ["signatures"] and len(sigs["signatures"]) == 1
    token = sigs["signatures"][0]
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": "ops"}
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert payload["keyid"] == "ops"
    names = {f["name"] for f in payload["files"]}
    assert names == {".manifest", "data.json", "authz.rego", "authz_test.rego", "egress.rego",
                     "egress_test.rego"}
    assert all(f["algorithm"] == "SHA-256" and len(f["hash"]) == 64 for f in payload["files"])
    manifest = json.loads(members[".manifest"])
    assert manifest["revision"] == "rev-7" and manifest["roots"] == ["zonegate"]
    assert json.loads(members["data.json"])["zonegate"]["zones"]["health"]["level"] == "L4"
    with tarfile.open(signed) as archive:
        assert all(name.startswith("/") for name in archive.getnames())


def test_build_is_reproducible(tmp_path: Path, ec_keys: tuple[bytes, bytes]) -> None:
    first, second = tmp_path / "1.tar.gz", tmp_path / "2.tar.gz"
    build_bundle(POLICIES, first)
    build_bundle(POLICIES, second)
    assert first.read_bytes() == second.read_bytes()


def test_opa_produced_bundle_verifies_and_loads() -> None:
    public = (OPA_VECTOR / "public-key.pem").read_bytes()
    report = verify_bundle(OPA_VECTOR / "bundle.tar.gz", public)
    assert report.revision == "v2026.11.25-1"
    assert report.key_id == "zonegate-test"
    source = read_bundle(OPA_VECTOR / "bundle.tar.gz", verification_key=public)
    assert source.revision == "v2026.11.25-1"
    assert source.data["zonegate"]["note"] == "<a & b>"  # type: ignore[index,call-overload]


async def test_signed_bundle_serves_decisions(signed: Path, ec_keys: tuple[bytes, bytes]) -> None:
    engine = EmbeddedEngine.from_path(signed, verification_key=ec_keys[1])
    assert engine.revision == "rev-7"
    assert (await engine.evaluate(make_input())).allow is True


def _rewrite(src: Path, dst: Path, change: Callable[[dict[str, bytes]], None]) -> Path:
    members = read_members(src)
    change(members)
    write_archive(dst, members)
    return dst


def _resign_with(private: bytes, alg: str) -> Callable[[dict[str, bytes]], None]:
    def change(members: dict[str, bytes]) -> None:
        token = json.loads(members[".signatures.json"])["signatures"][0]
        payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        key = serialization.load_pem_private_key(private, None) if alg != "HS256" else private
        new = jwt.encode(payload, key, algorithm=alg)  # type: ignore[arg-type]
        members[".signatures.json"] = json.dumps({"signatures": [new]}).encode()
    return change


def _set(name: str, value: bytes) -> Callable[[dict[str, bytes]], None]:
    def change(members: dict[str, bytes]) -> None:
        members[name] = value
    return change


def _drop(name: str) -> Callable[[dict[str, bytes]], None]:
    def change(members: dict[str, bytes]) -> None:
        del members[name]
    return change


def _none_alg(members: dict[str, bytes]) -> None:
    token = json.loads(members[".signatures.json"])["signatures"][0]
    _, payload, _ = token.split(".")
    header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    members[".signatures.json"] = json.dumps({"signatures": [f"{header}.{payload}."]}).encode()


def _two_tokens(members: dict[str, bytes]) -> None:
    token = json.loads(members[".signatures.json"])["signatures"][0]
    members[".signatures.json"] = json.dumps({"signatures": [token, token]}).encode()


TAMPER = [
    ("policy edited", _set("authz.rego", b"package zonegate.authz\ndecision := {}\n"),
     "authz.rego: digest mismatch"),
    ("data edited", _set("data.json", b'{"zonegate": {"zones": {}}}'),
     "data.json: digest mismatch"),
    ("manifest edited", _set(".manifest", b'{"revision": "evil", "roots": ["zonegate"]}'),
     ".manifest: digest mismatch"),
    ("file added", _set("backdoor.rego", b"package zonegate.authz\n"),
     "backdoor.rego is not included"),
    ("file removed", _drop("authz_test.rego"), "signed but missing"),
    ("signature removed", _drop(".signatures.json"), "missing .signatures.json"),
    ("alg none", _none_alg, "'none' is not accepted"),
    ("HS256 shared secret", _resign_with(b"secret" * 8, "HS256"),
     "'HS256' is not accepted"),
    ("signed by another key", _resign_with(_pem_pair("ec")[0], "ES256"), "does not verify"),
    ("two signatures", _two_tokens, "exactly one JWT"),
    ("signatures not JSON", _set(".signatures.json", b"{nope"), "not valid JSON"),
    ("signature garbage", _set(".signatures.json", b'{"signatures": ["a.b.c"]}'), "malformed JWT"),
]


@pytest.mark.parametrize(("note", "change", "message"), TAMPER, ids=[t[0] for t in TAMPER])
def test_tampered_bundles_are_refused(tmp_path: Path, signed: Path, ec_keys: tuple[bytes, bytes],
                                      note: str, change: Callable[[dict[str, bytes]], None],
                                      message: str) -> None:
    bad = _rewrite(signed, tmp_path / "bad.tar.gz", change)
    with pytest.raises(BundleError, match=re.escape(message)):
        verify_bundle(bad, ec_keys[1])
    with pytest.raises(BundleError):
        read_bundle(bad, verification_key=ec_keys[1])


def test_wrong_key_id_and_scope(signed: Path, ec_keys: tuple[bytes, bytes]) -> None:
    with pytest.raises(BundleError, match="expected 'other'"):
        verify_bundle(signed, ec_keys[1], key_id="other")
    with pytest.raises(BundleError, match="scope mismatch"):
        verify_bundle(signed, ec_keys[1], scope="write")


def test_signed_bundle_without_key_is_refused(signed: Path) -> None:
    with pytest.raises(BundleError, match="no verification key"):
        read_bundle(signed)


def test_unsigned_bundle_with_key_is_refused(tmp_path: Path, ec_keys: tuple[bytes, bytes]) -> None:
    out = tmp_path / "unsigned.tar.gz"
    build_bundle(POLICIES, out)
    assert read_bundle(out).modules  # loads without a key
    with pytest.raises(BundleError, match=r"missing \.signatures\.json"):
        read_bundle(out, verification_key=ec_keys[1])


def _raw_tar(tmp_path: Path, add: Callable[[tarfile.TarFile], None]) -> Path:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        add(tar)
    path = tmp_path / "odd.tar.gz"
    path.write_bytes(buffer.getvalue())
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, body: bytes = b"x") -> Callable[
        [tarfile.TarFile], None]:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.size = len(body) if kind == tarfile.REGTYPE else 0
        if kind == tarfile.SYMTYPE:
            info.linkname = "/etc/passwd"
        tar.addfile(info, io.BytesIO(body) if kind == tarfile.REGTYPE else None)
    return add


@pytest.mark.parametrize(("note", "make", "message"), [
    ("dot-dot name", _member("../escape.rego"), "not a plain relative file"),
    ("symlink", _member("link.rego", tarfile.SYMTYPE), "not a plain relative file"),
    ("device", _member("dev", tarfile.CHRTYPE), "not a plain relative file"),
], ids=["dot-dot", "symlink", "device"])
def test_odd_archive_members_are_refused(tmp_path: Path, note: str,
                                         make: Callable[[tarfile.TarFile], None],
                                         message: str) -> None:
    with pytest.raises(BundleError, match=message):
        read_members(_raw_tar(tmp_path, make))


@pytest.mark.parametrize("content", [b"", b"not gzip at all", gzip.compress(b"not a tar")[:-8],
                                     gzip.compress(b"\0" * 10)[:20]],
                         ids=["empty", "not-gzip", "truncated-gzip", "cut"])
def test_unreadable_archives_are_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.tar.gz"
    path.write_bytes(content)
    with pytest.raises(BundleError, match=r"not a readable \.tar\.gz bundle"):
        read_members(path)


@pytest.mark.parametrize(("text", "canonical"), [
    ('{"b": 1, "a": [true, null, "x"]}', '{"a":[true,null,"x"],"b":1}'),
    ('{"n": 1.50, "e": 1e3, "i": -0}', '{"e":1e3,"i":-0,"n":1.50}'),
    ('{"html": "<a & b>"}', '{"html":"<a & b>"}'),
    ('{"s": "\\u003c"}', '{"s":"<"}'),
    ('{"zh": "数据"}', '{"zh":"数据"}'),
    ('{"ctl": "a\\u0001\\n"}', '{"ctl":"a\\u0001\\n"}'),
    ('{"ls": "\\u2028"}', '{"ls":"\\u2028"}'),
    ('{"z": {"y": 1, "x": 2}}', '{"z":{"x":2,"y":1}}'),
], ids=["sorted", "numbers-verbatim", "html-unescaped", "escaped-html-read", "unicode",
        "control", "line-separator", "nested"])
def test_structured_hash_matches_opa_form(text: str, canonical: str) -> None:
    from gateway.pdp.bundle import _parse_structured

    assert canonical_json(_parse_structured(text.encode(), "data.json")) == canonical
    import hashlib

    assert file_digest("data.json", text.encode()) == hashlib.sha256(canonical.encode()).hexdigest()
    assert file_digest("x.rego", text.encode()) == hashlib.sha256(text.encode()).hexdigest()


def test_weak_hash_algorithms_are_refused() -> None:
    for algorithm in ("MD5", "SHA-1", "sha-256", ""):
        with pytest.raises(BundleError, match="not accepted"):
            file_digest("x.rego", b"x", algorithm)


def test_bad_signing_inputs(tmp_path: Path, ec_keys: tuple[bytes, bytes]) -> None:
    with pytest.raises(BundleError, match="ES256 or RS256"):
        build_bundle(POLICIES, tmp_path / "x.tar.gz", signing_key=ec_keys[0], algorithm="HS256")
    with pytest.raises(BundleError, match="not an unencrypted PEM private key"):
        build_bundle(POLICIES, tmp_path / "x.tar.gz", signing_key=b"garbage")
    with pytest.raises(BundleError, match="cannot sign"):
        build_bundle(POLICIES, tmp_path / "x.tar.gz", signing_key=ec_keys[0], algorithm="RS256")
    with pytest.raises(BundleError, match="not a policy directory"):
        build_bundle(tmp_path / "missing", tmp_path / "x.tar.gz")
    with pytest.raises(BundleError, match="not a PEM public key"):
        verify_bundle(OPA_VECTOR / "bundle.tar.gz", b"-----BEGIN PUBLIC KEY-----\nAAAA\n")


def test_a_pax_header_bomb_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    import resource
    import zlib

    # a pax header declaring 256 MiB of zeros, 250 KB on disk: tarfile would buffer it whole
    size = 256 * 2**20
    header = tarfile.TarInfo("././@PaxHeader")
    header.type, header.size = tarfile.XHDTYPE, size
    deflate = zlib.compressobj(1, zlib.DEFLATED, 31)
    path = tmp_path / "bomb.tar.gz"
    with path.open("wb") as out:
        out.write(deflate.compress(header.tobuf(tarfile.USTAR_FORMAT)))
        for _ in range(size >> 20):
            out.write(deflate.compress(bytes(2**20)))
        out.write(deflate.flush())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with pytest.raises(BundleError, match="unpacks to more than"):
        read_members(path)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - peak
    assert grown < 128 * 2**20, f"the peak grew by {grown >> 20} MiB"


@pytest.mark.parametrize("size", [0, 1, 65_535, 65_536, 65_537, 3 * 65_536, 1_000_003])
def test_bounded_inflate_round_trips_across_its_steps(size: int) -> None:
    import os

    from gateway.pdp.bundle import inflate_bounded

    data = os.urandom(size // 2) + bytes(size - size // 2)
    two_members = gzip.compress(data) + gzip.compress(b"tail")
    assert inflate_bounded(two_members, 10**8, "x") == data + b"tail"
