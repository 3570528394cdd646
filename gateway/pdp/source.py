"""Policy sources: a bundle root directory or a bundle archive, read into memory once.

Directory layout (``policies/`` is one):

* ``**/*.rego`` — modules (``*_test.rego`` hold the tests);
* ``data/<name>.json`` — mounted at ``data.zonegate.<name>`` (``data/zones.json`` becomes
  ``data.zonegate.zones``);
* ``**/data.json`` — OPA's convention: mounted at the path of its directory;
* ``.manifest`` — optional OPA manifest (``revision``, ``roots``).

Hidden files and folders (other than ``.manifest``) are ignored. An archive
(``.tar.gz``) is read by `gateway.pdp.bundle.read_bundle`, which checks its signature.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gateway.pdp.nesting import check_nesting
from gateway.pdp.port import JSONObject, JSONValue, PolicyLoadError

DATA_MOUNT = "zonegate"
MAX_FILE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class PolicySource:
    """Everything an engine needs: modules, data, manifest, and a revision."""

    origin: str
    modules: tuple[tuple[str, str], ...]  # (path relative to the root, Rego text)
    data: JSONObject
    manifest: JSONObject
    revision: str

    @property
    def test_modules(self) -> tuple[tuple[str, str], ...]:
        """The modules holding tests (``*_test.rego``)."""
        return tuple(m for m in self.modules if m[0].endswith("_test.rego"))

    def without_tests(self) -> PolicySource:
        """The same source without its test modules (what a serving engine loads)."""
        kept = tuple(m for m in self.modules if not m[0].endswith("_test.rego"))
        return PolicySource(self.origin, kept, self.data, self.manifest, self.revision)


def load_source(path: Path, *, verification_key: bytes | None = None) -> PolicySource:
    """Read a bundle directory or archive; raise `PolicyLoadError` naming the file at fault."""
    if path.is_dir():
        return _from_directory(path)
    if path.is_file():
        from gateway.pdp.bundle import read_bundle  # archives only; keeps imports light

        return read_bundle(path, verification_key=verification_key)
    raise PolicyLoadError(f"{path}: no such policy directory or bundle")


def _from_directory(root: Path) -> PolicySource:
    files: dict[str, bytes] = {}
    for file in sorted(root.rglob("*")):
        rel = file.relative_to(root).as_posix()
        if not file.is_file() or _hidden(rel):
            continue
        if file.suffix not in (".rego", ".json") and file.name != ".manifest":
            continue
        try:
            size = file.stat().st_size
        except OSError as exc:  # removed or unreadable while the folder was being read
            raise PolicyLoadError(f"{file}: cannot read: {exc.strerror}") from None
        if size > MAX_FILE_BYTES:
            raise PolicyLoadError(f"{file}: {size} bytes is larger than {MAX_FILE_BYTES}")
        try:
            files[rel] = file.read_bytes()
        except OSError as exc:
            raise PolicyLoadError(f"{file}: cannot read: {exc.strerror}") from None
    return source_from_files(str(root), files)


def _hidden(rel: str) -> bool:
    return rel != ".manifest" and any(part.startswith(".") for part in rel.split("/"))


def source_from_files(
    origin: str,
    files: Mapping[str, bytes],
    *,
    layout: Literal["directory", "bundle"] = "directory",
) -> PolicySource:
    """Build a source from relative paths and contents (directory or archive members).

    In the ``bundle`` layout only OPA's conventions apply (``**/data.json``); the
    ``data/<name>.json`` shorthand is for source directories.
    """
    modules: list[tuple[str, str]] = []
    data: JSONObject = {}
    manifest: JSONObject = {}
    for rel in sorted(files):
        raw = files[rel]
        where = f"{origin}/{rel}"
        if rel.endswith(".rego"):
            modules.append((rel, _text(raw, where)))
        elif rel == ".manifest":
            manifest = _object(raw, where)
        elif rel.endswith(".json"):
            mount = _mount_point(rel, layout)
            if mount is not None:
                _insert(data, mount, _json(raw, where), where)
    if not modules:
        raise PolicyLoadError(f"{origin}: no .rego files found")
    check_nesting(origin, modules)  # before any parser: regorus would take hours
    revision = manifest.get("revision")
    if not isinstance(revision, str) or not revision:
        revision = "sha256:" + _content_hash(files)[:16]
    return PolicySource(origin, tuple(modules), data, manifest, revision)


def _mount_point(rel: str, layout: str) -> list[str] | None:
    parts = rel.split("/")
    if parts[-1] == "data.json":
        return parts[:-1]
    if layout == "directory" and len(parts) == 2 and parts[0] == "data":
        return [DATA_MOUNT, parts[1].removesuffix(".json")]
    return None


def _insert(data: JSONObject, mount: list[str], value: JSONValue, where: str) -> None:
    if not mount:
        if not isinstance(value, dict):
            raise PolicyLoadError(f"{where}: a root data.json must hold a JSON object")
        for key, item in value.items():
            _insert(data, [key], item, where)
        return
    node = data
    for key in mount[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise PolicyLoadError(f"{where}: data path {'.'.join(mount)} collides with a value")
        node = child
    leaf = mount[-1]
    existing = node.get(leaf)
    if isinstance(existing, dict) and isinstance(value, dict):
        overlap = sorted(set(existing) & set(value))
        if overlap:
            raise PolicyLoadError(f"{where}: data keys {overlap} are defined twice")
        existing.update(value)
    elif leaf in node:
        raise PolicyLoadError(f"{where}: data path {'.'.join(mount)} is defined twice")
    else:
        node[leaf] = value


def _text(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyLoadError(f"{where}: not UTF-8 text (byte {exc.start})") from None


def _json(raw: bytes, where: str) -> JSONValue:
    try:
        value: JSONValue = json.loads(_text(raw, where), parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise PolicyLoadError(f"{where}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except ValueError as exc:
        raise PolicyLoadError(f"{where}: invalid JSON: {exc}") from None
    except RecursionError:
        raise PolicyLoadError(f"{where}: JSON nested too deeply") from None
    return value


def _object(raw: bytes, where: str) -> JSONObject:
    value = _json(raw, where)
    if not isinstance(value, dict):
        raise PolicyLoadError(f"{where}: must hold a JSON object")
    return value


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _content_hash(files: Mapping[str, bytes]) -> str:
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode("utf-8") + b"\0" + hashlib.sha256(files[rel]).digest())
    return digest.hexdigest()
