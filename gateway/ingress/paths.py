"""Normalise a raw request target once, and refuse encodings that different parsers read
differently.

The policy sees the decoded, normalised path; the upstream receives `wire_path`, the one
canonical encoding of exactly that path. Anything whose meaning depends on the decoder
(`%2F`, backslash, NUL and other controls, overlong or invalid UTF-8, `%25` double
encoding, `..;`) is refused with `AmbiguousPath` rather than guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

from gateway.ingress.errors import AmbiguousPath

_PCHAR_SAFE = "!$&'()*+,;=:@-._~"
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_RAW_ALLOWED = re.compile(r"^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$")
_QUERY_ALLOWED = re.compile(r"^[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*$")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
MAX_TARGET = 8192


@dataclass(frozen=True, slots=True)
class NormalisedTarget:
    """A request target after the one normalisation."""

    path: str  # decoded, dot segments resolved, duplicate slashes collapsed
    wire_path: str  # the canonical percent-encoding of `path`, sent upstream
    raw_query: str  # passed through unchanged (validated)
    query: dict[str, list[str]]  # decoded, for the policy input
    climbed_to: int | None  # shallowest depth reached by a '..' (None if no '..')


def _decode_segment(segment: str) -> str:
    if _BAD_ESCAPE.search(segment):
        raise AmbiguousPath("malformed percent-escape in the path")
    raw = bytearray()
    index = 0
    for match in _ESCAPE.finditer(segment):
        raw += segment[index:match.start()].encode("ascii")
        byte = int(match.group(1), 16)
        if byte == 0x2F:
            raise AmbiguousPath("encoded slash (%2F) in the path")
        if byte == 0x5C:
            raise AmbiguousPath("encoded backslash (%5C) in the path")
        if byte < 0x20 or byte == 0x7F:
            raise AmbiguousPath("encoded control character (e.g. %00) in the path")
        if byte == 0x25:
            raise AmbiguousPath("double encoding (%25) in the path")
        raw.append(byte)
        index = match.end()
    raw += segment[index:].encode("ascii")
    try:
        # strict UTF-8 refuses overlong forms (%C0%AE), surrogates and truncated sequences
        return raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise AmbiguousPath("the path is not valid UTF-8 (overlong or malformed)") from None


def _is_dot(segment: str, dots: str) -> bool:
    return segment == dots or segment.startswith(dots + ";")


def normalise_target(raw_target: str) -> NormalisedTarget:
    """Normalise `request.raw_path` (path and query); raise AmbiguousPath for tricks."""
    if len(raw_target) > MAX_TARGET:
        raise AmbiguousPath("request target too long")
    raw_path, sep, raw_query = raw_target.partition("?")
    if not raw_path.startswith("/"):
        raise AmbiguousPath("the request target must be an absolute path")
    if "\\" in raw_path:
        raise AmbiguousPath("backslash in the path")
    if not _RAW_ALLOWED.match(raw_path):
        raise AmbiguousPath("the path holds characters that must be percent-encoded")
    if sep and not _QUERY_ALLOWED.match(raw_query):
        raise AmbiguousPath("the query holds characters that must be percent-encoded")
    if _BAD_ESCAPE.search(raw_query):
        raise AmbiguousPath("malformed percent-escape in the query")
    stack: list[str] = []
    climbed_to: int | None = None
    parts = raw_path.split("/")[1:]
    trailing = False
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        segment = _decode_segment(part)
        if segment == "":
            trailing = last
            continue  # duplicate slashes collapse
        if _is_dot(segment, "."):
            if segment != ".":
                raise AmbiguousPath("a dot segment carries a ';' parameter")
            trailing = last
            continue
        if _is_dot(segment, ".."):
            if segment != "..":
                raise AmbiguousPath("a dot segment carries a ';' parameter")
            if not stack:
                raise AmbiguousPath("dot segments climb above the root")
            stack.pop()
            climbed_to = len(stack) if climbed_to is None else min(climbed_to, len(stack))
            trailing = last
            continue
        stack.append(segment)
        trailing = False
    path = "/" + "/".join(stack) + ("/" if trailing and stack else "")
    wire = "/" + "/".join(quote(s, safe=_PCHAR_SAFE) for s in stack) \
        + ("/" if trailing and stack else "")
    try:
        pairs = parse_qsl(raw_query, keep_blank_values=True, errors="strict",
                          max_num_fields=256)
    except (UnicodeDecodeError, ValueError):
        raise AmbiguousPath("the query is not valid UTF-8 or has too many fields") from None
    query: dict[str, list[str]] = {}
    for key, value in pairs:
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in key + value):
            raise AmbiguousPath("control character in the query")
        query.setdefault(key, []).append(value)
    return NormalisedTarget(path=path, wire_path=wire, raw_query=raw_query, query=query,
                            climbed_to=climbed_to)
