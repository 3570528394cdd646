"""Opaque keyset cursors: the sort key of the last row a page returned.

Keyset (not offset) pagination keeps pages stable while rows are added: a row that
arrives between two page requests never shifts or repeats the rows already paged through.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from gateway.store.errors import InvalidCursor, InvalidRecord

MAX_LIMIT = 1000


def encode(kind: str, *key: str | int) -> str:
    """A cursor for a `kind` of listing positioned after `key`."""
    raw = json.dumps([kind, *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, kind: str, arity: int) -> list[str | int]:
    """The key inside `cursor`; InvalidCursor if it is not a `kind` cursor of `arity` parts."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        raise InvalidCursor(f"cursor {cursor[:40]!r} is malformed") from None
    if (
        not isinstance(value, list)
        or len(value) != arity + 1
        or value[0] != kind
        or not all(isinstance(part, str | int) and not isinstance(part, bool)
                   for part in value[1:])
    ):
        raise InvalidCursor(f"cursor {cursor[:40]!r} is not a {kind} cursor")
    return list(value[1:])


def decode_time(value: str | int) -> datetime:
    """A cursor part that holds an aware ISO time."""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidCursor("cursor holds a malformed time") from None
    if parsed.tzinfo is None:
        raise InvalidCursor("cursor holds a naive time")
    return parsed


def check_limit(limit: int) -> int:
    """A page size from 1 to MAX_LIMIT."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidRecord(f"limit must be from 1 to {MAX_LIMIT}, got {limit!r}")
    return limit
