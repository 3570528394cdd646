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
* `nesting_cost`: regorus parses nested collection literals in time exponential in their
  depth (``x := [[[[...]]]]`` 16 deep takes 3 s, 20 deep minutes), so a 60-byte module
  could hold a control-plane thread for hours. The estimate below bounds that time.
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
# regorus parse time grows 2-2.3x per level of nested [ or {: 2**18 estimated units (see
# `nesting_cost`) is about 1 s of parsing for ordinary Rego and 10 s for the worst shape;
# the shipped policies/ come to 5,568
MAX_NESTING_COST = 1 << 18


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


def nesting_cost(text: str) -> int:
    """An upper estimate of regorus's work parsing the nested literals of `text`.

    A ``[`` or ``{`` literal costs twice the sum of what it holds, plus two (measured: one
    level deeper doubles the time, siblings add); parentheses pass on what they hold; a
    rule body (``{`` after ``if``, ``else`` or a term) starts afresh, as do strings and
    comments, which are skipped.
    """
    total = 0
    stack: list[list[int]] = []  # [kind (0 literal, 1 parenthesis, 2 body), cost held]
    i, n = 0, len(text)
    last = ""  # the previous token's last character, or the previous word
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if c in "\"`":
            end = _string_end(text, i)
            i, last = end, '"'
            continue
        if c.isalnum() or c == "_":
            start = i
            while i < n and (text[i].isalnum() or text[i] == "_"):
                i += 1
            last = text[start:i]
            continue
        if c in "[{(":
            body = c == "{" and (last in _BODY_AFTER or (
                last not in _TERM_BEFORE and (last[-1:] in _TERM_END or last[-1:].isalnum())))
            stack.append([2 if body else 1 if c == "(" else 0, 0])
        elif c in "]})" and stack:
            kind, held = stack.pop()
            node = 2 * (1 + held) if kind == 0 else held
            if stack and stack[-1][0] != 2 and kind != 2:
                stack[-1][1] += node
            else:
                total += node
        last = c
        i += 1
    return total + sum(held for _, held in stack)


_BODY_AFTER = frozenset({"if", "else"})
_TERM_BEFORE = frozenset({"in", "contains", "not", "some", "every", "with", "as", "default",
                          "package", "import", "or"})
_TERM_END = frozenset({"]", ")", "}", '"'})


def _string_end(text: str, i: int) -> int:
    if text[i] == "`":
        end = text.find("`", i + 1)
        return len(text) if end < 0 else end + 1
    i += 1
    while i < len(text) and text[i] not in '"\n':
        i += 2 if text[i] == "\\" else 1
    return i + 1


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
