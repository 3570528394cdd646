"""OPA bundles: build, sign, read and verify, exactly per OPA's bundle signing spec.

An archive holds ``/.manifest`` (``revision``, ``roots``), ``/data.json``, the ``*.rego``
modules, and, when signed, ``/.signatures.json``: ``{"signatures": ["<JWT>"]}`` whose
payload is ``{"files": [{"name", "hash", "algorithm"}], "keyid"?: …, "scope"?: …}`` and
whose header names the key in ``kid``. ``hash`` is the hex digest of the raw bytes for
modules, and, for the structured files (``data.json``, ``data.yaml``, ``.manifest``), of
the JSON re-encoded with object keys sorted recursively, no whitespace, numbers as
written, and no HTML escaping (OPA's ``bundle/hash.go``).

Verification (`verify_bundle`) checks the JWT with a public key (asymmetric algorithms
only), the scope, every file's digest, and that no file is missing from or extra to the
signature. Archives are read defensively: regular files only, no absolute or ``..``
names, bounded sizes.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import io
import json
import tarfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.pdp.port import BundleError, BundleTooLarge, JSONObject, JSONValue
from gateway.pdp.source import PolicySource, load_source, source_from_files

SIGNATURES = ".signatures.json"
STRUCTURED = ("data.json", "data.yaml", ".manifest", SIGNATURES)
ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
_HASHES = {
    "SHA-224": hashlib.sha224,
    "SHA-256": hashlib.sha256,
    "SHA-384": hashlib.sha384,
    "SHA-512": hashlib.sha512,
}  # MD5 and SHA-1, which OPA also knows, are refused
MAX_MEMBERS = 2_000
MAX_TOTAL_BYTES = 64 * 1024 * 1024
_TAR_BLOCK = 512
_STEP = 1 << 16  # bytes inflated per call


PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


class _Number(str):
    """A JSON number kept as written, as Go's json.Number does."""


def _parse_structured(raw: bytes, name: str) -> JSONValue:
    try:
        value: JSONValue = json.loads(
            raw.decode("utf-8"), parse_float=_Number, parse_int=_Number,
            parse_constant=_refuse_constant,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise BundleError(f"{name}: not valid JSON: {exc}") from None
    return value


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _go_string(text: str) -> str:
    encoded = json.dumps(text, ensure_ascii=False)
    return encoded.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def canonical_json(value: object) -> str:
    """OPA's hashing form: sorted keys, no whitespace, numbers verbatim, no HTML escaping."""
    if isinstance(value, dict):
        items = (f"{_go_string(k)}:{canonical_json(value[k])}" for k in sorted(value))
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(canonical_json(v) for v in value) + "]"
    if isinstance(value, _Number):
        return str.__str__(value)
    if isinstance(value, str):
        return _go_string(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    return json.dumps(value)


def file_digest(name: str, raw: bytes, algorithm: str = "SHA-256") -> str:
    """The hex digest OPA records for bundle member `name` (no leading slash)."""
    factory = _HASHES.get(algorithm)
    if factory is None:
        raise BundleError(f"{name}: hashing algorithm {algorithm!r} is not accepted")
    if PurePosixPath(name).name in STRUCTURED:
        raw = canonical_json(_parse_structured(raw, name)).encode("utf-8")
    return factory(raw).hexdigest()


@dataclass(frozen=True, slots=True)
class BundleReport:
    """What `build_bundle` wrote or `verify_bundle` checked."""

    path: Path
    revision: str
    files: tuple[str, ...]
    signed: bool
    key_id: str | None


# --- reading ---------------------------------------------------------------------------


def unpacked_limit(max_total_bytes: int, max_files: int) -> int:
    """The largest tar stream that can hold `max_files` files of `max_total_bytes` in all:
    the bytes plus, per member, a header, a pax header and padding (blocks of 512)."""
    return max_total_bytes + (max_files + 2) * 8 * _TAR_BLOCK + 20 * _TAR_BLOCK


UNPACKED_LIMIT = unpacked_limit(MAX_TOTAL_BYTES, MAX_MEMBERS)


def inflate_bounded(archive: bytes, limit: int, where: str) -> bytes:
    """The tar stream inside a ``.tar.gz`` (several gzip members are one stream), at most
    `limit` bytes: `BundleTooLarge` past it, `BundleError` when it is not gzip.

    tarfile buffers a pax or GNU long-name header whole, whatever size it declares, so a
    250 KB archive could otherwise make the reader allocate hundreds of MiB before any of
    our size checks ran. Every archive is inflated here before tarfile sees it.
    """
    out = bytearray()
    rest = archive
    try:
        while True:
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            pending = rest
            while True:
                # in small steps, so memory stays near `limit` rather than twice it
                step = min(_STEP, limit + 1 - len(out))
                chunk = inflater.decompress(pending, step)
                out += chunk
                if len(out) > limit:
                    raise BundleTooLarge(f"{where} unpacks to more than {limit} bytes")
                pending = inflater.unconsumed_tail
                # a full step may leave output inside zlib even with all input consumed
                if inflater.eof or (not pending and len(chunk) < step):
                    break
            if not inflater.eof:
                raise BundleError(f"{where}: not a readable .tar.gz bundle: the gzip stream "
                                  "ends early")
            rest = inflater.unused_data
            if not rest.strip(b"\0"):  # trailing zero padding, as some writers leave
                return bytes(out)
    except zlib.error as exc:
        raise BundleError(f"{where}: not a readable .tar.gz bundle: {exc}") from None


def read_members(path: Path) -> dict[str, bytes]:
    """The archive's regular files by name (leading ``/`` removed); refuses odd members."""
    try:
        archive = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"{path}: not a readable .tar.gz bundle: {exc.strerror}") from None
    where = str(path)
    return members_from_tar(inflate_bounded(archive, UNPACKED_LIMIT, where), where)


def members_from_tar(stream: bytes, where: str) -> dict[str, bytes]:
    """The regular files of an inflated tar stream by name; refuses odd members."""
    members: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(stream), mode="r:") as archive:
            for count, info in enumerate(archive, start=1):
                if count > MAX_MEMBERS:
                    raise BundleError(f"{where}: more than {MAX_MEMBERS} members")
                if info.isdir():
                    continue
                name = info.name.lstrip("/")
                if name.startswith("./"):
                    name = name[2:]
                parts = PurePosixPath(name).parts
                if not info.isreg() or not parts or ".." in parts or "\\" in name:
                    raise BundleError(f"{where}: member {info.name!r} is not a plain relative file")
                total += info.size
                if total > MAX_TOTAL_BYTES:
                    raise BundleError(f"{where}: larger than {MAX_TOTAL_BYTES} bytes unpacked")
                if name in members:
                    raise BundleError(f"{where}: member {name!r} appears twice")
                handle = archive.extractfile(info)
                if handle is None:
                    raise BundleError(f"{where}: member {info.name!r} cannot be read")
                members[name] = handle.read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BundleError(f"{where}: not a readable .tar.gz bundle: {exc}") from None
    return members


def read_bundle(path: Path, *, verification_key: bytes | None = None) -> PolicySource:
    """Read an archive into a `PolicySource`; verify it when signed or when a key is given."""
    members = read_members(path)
    if SIGNATURES in members or verification_key is not None:
        if verification_key is None:
            raise BundleError(f"{path}: the bundle is signed but no verification key is set")
        verify_members(path, members, verification_key, key_id=None, scope="")
    files = {name: raw for name, raw in members.items() if name != SIGNATURES}
    return source_from_files(str(path), files, layout="bundle")


# --- verifying -------------------------------------------------------------------------


def verify_bundle(
    path: Path, public_key: bytes, *, key_id: str | None = None, scope: str = ""
) -> BundleReport:
    """Check signature, digests and completeness; raise `BundleError` saying what is wrong."""
    members = read_members(path)
    kid = verify_members(path, members, public_key, key_id=key_id, scope=scope)
    files = tuple(sorted(n for n in members if n != SIGNATURES))
    manifest = members.get(".manifest")
    revision = ""
    if manifest is not None:
        parsed = _parse_structured(manifest, ".manifest")
        if isinstance(parsed, dict) and isinstance(parsed.get("revision"), str):
            revision = str.__str__(parsed["revision"])
    return BundleReport(path, revision, files, True, kid)


def verify_members(
    path: str | Path, members: Mapping[str, bytes], public_key: bytes, *,
    key_id: str | None, scope: str,
) -> str | None:
    """Check the members' signature and digests (`path` names the bundle in errors);
    the key id that signed them."""
    raw = members.get(SIGNATURES)
    if raw is None:
        raise BundleError(f"{path}: bundle missing {SIGNATURES}")
    sigs = _parse_structured(raw, SIGNATURES)
    tokens = sigs.get("signatures") if isinstance(sigs, dict) else None
    if not isinstance(tokens, list) or len(tokens) != 1 or not isinstance(tokens[0], str):
        raise BundleError(f"{path}: {SIGNATURES} must hold exactly one JWT in 'signatures'")
    token = str.__str__(tokens[0])
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise BundleError(f"{path}: {SIGNATURES}: malformed JWT: {exc}") from None
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise BundleError(f"{path}: signature algorithm {alg!r} is not accepted "
                          f"(one of {', '.join(ALGORITHMS)})")
    key = _public_key(public_key)
    try:
        payload = jwt.decode(token, key, algorithms=[alg],
                             options={"verify_aud": False, "verify_iss": False})
    except jwt.InvalidSignatureError:
        raise BundleError(f"{path}: the bundle signature does not verify with this key") from None
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise BundleError(f"{path}: the bundle signature is invalid: {exc}") from None
    kid = header.get("kid") or payload.get("keyid")
    if key_id is not None and kid not in (None, key_id):
        raise BundleError(f"{path}: signed with key id {kid!r}, expected {key_id!r}")
    if (payload.get("scope") or "") != scope:
        raise BundleError(f"{path}: scope mismatch ({payload.get('scope')!r} != {scope!r})")
    listed = _listed_files(path, payload.get("files"))
    for name in sorted(n for n in members if n != SIGNATURES):
        entry = listed.pop(name, None)
        if entry is None:
            raise BundleError(f"{path}: file {name} is not included in the bundle signature")
        want, algorithm = entry
        got = file_digest(name, members[name], algorithm)
        if not hmac.compare_digest(got, want.lower()):
            raise BundleError(f"{path}: {name}: digest mismatch (want {want}, got {got})")
    if listed:
        raise BundleError(
            f"{path}: file(s) {sorted(listed)} are signed but missing from the bundle"
        )
    return kid if isinstance(kid, str) else None


def _listed_files(path: str | Path, files: object) -> dict[str, tuple[str, str]]:
    if not isinstance(files, list):
        raise BundleError(f"{path}: the signature has no 'files' list")
    listed: dict[str, tuple[str, str]] = {}
    for entry in files:
        if not isinstance(entry, dict):
            raise BundleError(f"{path}: a 'files' entry is not an object")
        name, digest, algorithm = entry.get("name"), entry.get("hash"), entry.get("algorithm")
        if not (isinstance(name, str) and isinstance(digest, str) and isinstance(algorithm, str)):
            raise BundleError(f"{path}: a 'files' entry lacks name, hash or algorithm")
        listed[name.lstrip("/")] = (digest, algorithm)
    return listed


def _public_key(pem: bytes) -> PublicKey:
    try:
        key: object = serialization.load_pem_public_key(pem)
    except ValueError:
        try:
            key = x509.load_pem_x509_certificate(pem).public_key()
        except ValueError:
            raise BundleError(
                "the verification key is not a PEM public key or certificate"
            ) from None
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise BundleError("the verification key must be an RSA or EC public key")
    return key


# --- building --------------------------------------------------------------------------


def build_bundle(
    source_dir: Path,
    out: Path,
    *,
    revision: str | None = None,
    signing_key: bytes | None = None,
    key_id: str | None = None,
    algorithm: str = "ES256",
) -> BundleReport:
    """Write an OPA bundle of `source_dir` to `out`, signed when `signing_key` is given."""
    if not source_dir.is_dir():
        raise BundleError(f"{source_dir}: not a policy directory")
    source = load_source(source_dir)
    members = bundle_members(source, revision=revision)
    signed = signing_key is not None
    if signing_key is not None:
        members[SIGNATURES] = sign_members(members, signing_key, key_id=key_id,
                                           algorithm=algorithm)
    write_archive(out, members)
    rev = revision or source.revision
    return BundleReport(out, rev, tuple(sorted(members)), signed, key_id)


def bundle_members(source: PolicySource, *, revision: str | None = None) -> dict[str, bytes]:
    """The files of an OPA bundle for `source` (names without the leading slash)."""
    manifest: JSONObject = dict(source.manifest)
    manifest["revision"] = revision or source.revision
    roots: list[JSONValue] = [*sorted(source.data)] or ["zonegate"]
    manifest.setdefault("roots", roots)
    members = {
        ".manifest": (json.dumps(manifest, sort_keys=True) + "\n").encode(),
        "data.json": (json.dumps(source.data, sort_keys=True, ensure_ascii=False) + "\n").encode(),
    }
    for name, text in source.modules:
        members[name] = text.encode("utf-8")
    return members


def sign_members(
    members: Mapping[str, bytes], private_key_pem: bytes, *, key_id: str | None,
    algorithm: str,
) -> bytes:
    """The ``.signatures.json`` for `members`, as ``opa sign`` writes it."""
    if algorithm not in ("ES256", "RS256"):
        raise BundleError(f"--alg must be ES256 or RS256, got {algorithm!r}")
    try:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise BundleError(f"the signing key is not an unencrypted PEM private key: {exc}") from None
    files = [
        {"name": name, "hash": file_digest(name, raw), "algorithm": "SHA-256"}
        for name, raw in sorted(members.items())
    ]
    payload: dict[str, object] = {"files": files}
    headers: dict[str, object] = {"typ": None}
    if key_id:
        payload["keyid"] = key_id  # deprecated claim OPA still writes
        headers["kid"] = key_id
    try:
        token = jwt.encode(payload, key, algorithm=algorithm, headers=headers)  # type: ignore[arg-type]
    except (jwt.PyJWTError, TypeError, ValueError) as exc:
        raise BundleError(f"cannot sign with this key and {algorithm}: {exc}") from None
    return json.dumps({"signatures": [token]}, indent=1).encode()


def write_archive(out: Path, members: Mapping[str, bytes]) -> None:
    """A reproducible .tar.gz (sorted names with a leading ``/``, as OPA writes them)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in sorted(members):
            info = tarfile.TarInfo("/" + name)
            info.size = len(members[name])
            info.mode = 0o644
            info.mtime = 0
            archive.addfile(info, io.BytesIO(members[name]))
    tmp = out.with_name(out.name + ".tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(buffer.getvalue())
        tmp.replace(out)
    except OSError as exc:
        raise BundleError(f"{out}: cannot write: {exc.strerror}") from None
