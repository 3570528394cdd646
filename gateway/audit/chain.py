"""The record format of the tamper-evident audit log.

One record per line (JSONL). Each record is the canonical JSON (sorted keys, no spaces,
UTF-8) of ``{"seq", "time", "kind", "prev", "event"}`` plus ``"hash"``, the SHA-256 of that
canonical body. ``prev`` is the previous record's ``hash`` (64 zeros for the first record),
so editing, deleting, inserting or reordering any record breaks the chain at that line.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import cast

GENESIS = "0" * 64
RECORD_KEYS = frozenset({"seq", "time", "kind", "prev", "event", "hash"})


def canonical(value: object) -> bytes:
    """Canonical JSON bytes: sorted keys, compact, UTF-8, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


@dataclass(frozen=True, slots=True)
class ChainRecord:
    """One verified record of the chain."""

    seq: int
    time: str
    kind: str
    prev: str
    event: dict[str, object]
    hash: str


def seal(
    seq: int, time: str, kind: str, prev: str, event: dict[str, object]
) -> tuple[bytes, str]:
    """Return the complete line (with its trailing newline) for a new record, and its hash."""
    body: dict[str, object] = {"seq": seq, "time": time, "kind": kind, "prev": prev,
                               "event": event}
    digest = hashlib.sha256(canonical(body)).hexdigest()
    body["hash"] = digest
    return canonical(body) + b"\n", digest


class MalformedRecord(ValueError):
    """A line that is not a well-formed, self-consistent record."""


def parse_record(line: bytes) -> ChainRecord:
    """Parse one line (without its newline) and check its own hash; raise MalformedRecord."""
    try:
        raw = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise MalformedRecord("not a JSON record") from None
    if not isinstance(raw, dict) or set(raw) != RECORD_KEYS:
        raise MalformedRecord("not an audit record (wrong fields)")
    seq, time, kind, prev, event, digest = (
        raw["seq"], raw["time"], raw["kind"], raw["prev"], raw["event"], raw["hash"]
    )
    if (
        not isinstance(seq, int) or isinstance(seq, bool) or seq < 1
        or not isinstance(time, str) or not isinstance(kind, str)
        or not isinstance(prev, str) or not isinstance(event, dict)
        or not isinstance(digest, str)
    ):
        raise MalformedRecord("not an audit record (wrong field types)")
    body = {k: raw[k] for k in ("seq", "time", "kind", "prev", "event")}
    try:
        expected = hashlib.sha256(canonical(body)).hexdigest()
    except ValueError:
        raise MalformedRecord("record holds a value that has no canonical form") from None
    if not hmac.compare_digest(expected, digest):
        raise MalformedRecord("record content does not match its hash (edited)")
    return ChainRecord(seq=seq, time=time, kind=kind, prev=prev,
                       event=cast(dict[str, object], event), hash=digest)
