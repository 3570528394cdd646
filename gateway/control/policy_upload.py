"""Reading an uploaded policy defensively, before any parser sees it.

Each guard here closes a hole that a valid-looking upload opened (found by
tests/gateway/control/test_policies_fuzz.py):

* `gunzip_bounded`: a ``.tar.gz`` is inflated with a hard bound (pdp's `inflate_bounded`, which
  every bundle reader uses), so that tarfile
  never reads from an unbounded stream. Without it a 200 KB upload whose pax (or GNU
  long-name) header declares 200 MB made tarfile buffer all of it: gzip inflates about
  1000:1, so the 4 MB archive limit was a 4 GB memory limit.
* `check_name`: names are plain, relative, UTF-8 policy paths. A tar member name that is
  not UTF-8 arrives as a lone surrogate and failed, as a 500, wherever it was encoded.
* nesting: regorus parses nested collection literals in time exponential in their depth,
  so a 60-byte module could hold a control-plane thread for hours; `gateway.pdp.nesting`
  bounds that for every reader of policy, uploads included (`too-deeply-nested`).
* `check_manifest`: OPA refuses a bundle whose ``.manifest`` holds a non-string
  ``revision`` or non-list ``roots``; such a bundle must not be activated and published.
* `check_unicode`: a JSON escape such as ``"\\ud800"`` parses to a lone surrogate, which
  no UTF-8 bundle can hold: writing the canonical bundle failed with a 500.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath

from gateway.control.errors import UploadRefused, UploadTooLarge
from gateway.pdp.bundle import inflate_bounded
from gateway.pdp.port import BundleError, BundleTooLarge, JSONObject
from gateway.pdp.source import PolicySource

MAX_NAME = 256


def gunzip_bounded(archive: bytes, limit: int) -> bytes:
    """`gateway.pdp.bundle.inflate_bounded` in the upload's terms: `UploadTooLarge`
    (413) past `limit`, `UploadRefused` (422 bad-bundle) when it is not gzip."""
    try:
        return inflate_bounded(archive, limit, "the bundle")
    except BundleTooLarge as exc:
        raise UploadTooLarge("too-large", str(exc)) from None
    except BundleError as exc:
        raise UploadRefused("bad-bundle", str(exc)) from None


def check_name(name: str) -> None:
    """Refuse a file name that is not a plain relative UTF-8 path to a policy file."""
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        raise UploadRefused("bad-file-name", f"file name {name!r:.80} must be 1-{MAX_NAME} "
                            "characters")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise UploadRefused("bad-file-name", f"file name {name!r:.80} is not UTF-8") from None
    if any(ord(c) < 0x20 or c in "\\\x7f" for c in name) or name.startswith("/"):
        raise UploadRefused("unsafe-path", f"file name {name!r:.80} is not a plain relative path")
    parts = PurePosixPath(name).parts
    if any(p in (".", "..") for p in name.split("/")) or "" in name.split("/"):
        raise UploadRefused("unsafe-path", f"file name {name!r:.80} is not a plain relative path")
    if name != ".manifest" and any(p.startswith(".") for p in parts):
        raise UploadRefused("bad-file-name", f"{name}: hidden files are not policy")
    if name != ".manifest" and PurePosixPath(name).suffix not in (".rego", ".json"):
        raise UploadRefused("bad-file-name", f"{name}: only .rego, .json and .manifest files "
                            "belong in a policy")


def check_manifest(manifest: JSONObject) -> None:
    """Refuse a ``.manifest`` that OPA would refuse to load (types of the known keys)."""
    revision = manifest.get("revision")
    if revision is not None and not isinstance(revision, str):
        raise UploadRefused("bad-manifest", ".manifest: revision must be a string")
    roots = manifest.get("roots")
    if roots is not None and not (isinstance(roots, list)
                                  and all(isinstance(r, str) for r in roots)):
        raise UploadRefused("bad-manifest", ".manifest: roots must be a list of strings")


def check_unicode(source: PolicySource) -> None:
    """Refuse data or a manifest holding a lone surrogate (from a ``\\ud800`` escape)."""
    for what, value in (("the JSON data", source.data), (".manifest", source.manifest)):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise UploadRefused("not-utf8", f"{what} holds a lone surrogate (an escape such "
                                "as \\ud800): not Unicode text") from None
