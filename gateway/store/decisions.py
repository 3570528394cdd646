"""The decision index: one searchable row per policy decision.

The decision log (OPA event shape) is the full record; this index answers "what was
decided for this subject, device or zone, and why". Recording is idempotent by
decision_id and is not written to the change audit: it is itself a log of facts.

A row may carry the policy revision that decided and the policy input (already masked by
the caller, as the decision log masks it), so the control plane can re-decide it: shadow
mode and replay. The input is bounded (`MAX_INPUT_BYTES` of JSON).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from sqlalchemy import ColumnElement, String, and_, cast, or_, select

from gateway.store import _cursor, _validate
from gateway.store._db import Database
from gateway.store.errors import InvalidRecord, NotFound
from gateway.store.models import DecisionEntry
from gateway.store.types import DecisionFilter, DecisionRecord, Page

_REASON = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_METHOD = re.compile(r"^[A-Z]{1,16}$")
LEVELS = ("L1", "L2", "L3", "L4", "L5", "L6")
MAX_INPUT_BYTES = 64 * 1024


def _input(value: object) -> dict[str, object] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidRecord(f"input: must be a JSON object, got {type(value).__name__}")
    try:
        size = len(json.dumps(value, allow_nan=False, separators=(",", ":")))
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(f"input: not JSON: {exc}") from None
    if size > MAX_INPUT_BYTES:
        raise InvalidRecord(f"input: larger than {MAX_INPUT_BYTES} bytes of JSON")
    return value


def _row(record: DecisionRecord) -> dict[str, object]:
    _validate.text(record.decision_id, "decision_id", max_len=64)
    _validate.aware(record.time, "time")
    if not isinstance(record.method, str) or not _METHOD.match(record.method):
        raise InvalidRecord(f"method: must be an upper-case HTTP method, got {record.method!r}")
    if not isinstance(record.path, str) or len(record.path) > 8192:
        raise InvalidRecord("path: must be a string of at most 8192 characters")
    if not isinstance(record.allow, bool):
        raise InvalidRecord(f"allow: must be true or false, got {record.allow!r}")
    for reason in record.reasons:
        if not isinstance(reason, str) or not _REASON.match(reason):
            raise InvalidRecord(f"reasons: {reason!r} is not a kebab-case reason code")
    if record.level is not None and record.level not in LEVELS:
        raise InvalidRecord(f"level: must be one of {', '.join(LEVELS)}, got {record.level!r}")
    return {
        "decision_id": record.decision_id, "time": record.time,
        "subject": _validate.text(record.subject, "subject", max_len=256, required=False),
        "device": (None if record.device is None
                   else _validate.text(record.device, "device", max_len=128)),
        "zone": None if record.zone is None else _validate.text(record.zone, "zone", max_len=64),
        "method": record.method,
        "path": record.path, "allow": record.allow, "reasons": list(record.reasons),
        "level": record.level,
        "revision": (None if record.revision is None
                     else _validate.text(record.revision, "revision", max_len=128)),
        "input": _input(record.input),
    }


def _record(row: DecisionEntry) -> DecisionRecord:
    return DecisionRecord(decision_id=row.decision_id, time=row.time, subject=row.subject,
                          device=row.device, zone=row.zone, method=row.method, path=row.path,
                          allow=row.allow, reasons=tuple(row.reasons), level=row.level,
                          revision=row.revision, input=row.input)


def _conditions(flt: DecisionFilter) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if flt.subject is not None:
        out.append(DecisionEntry.subject == flt.subject)
    if flt.device is not None:
        out.append(DecisionEntry.device == flt.device)
    if flt.zone is not None:
        out.append(DecisionEntry.zone == flt.zone)
    if flt.allow is not None:
        out.append(DecisionEntry.allow.is_(flt.allow))
    if flt.reason is not None:
        if not _REASON.match(flt.reason):
            raise InvalidRecord(f"reason: {flt.reason!r} is not a kebab-case reason code")
        # reason codes are [a-z0-9-], so the quoted code cannot match across elements
        out.append(cast(DecisionEntry.reasons, String).contains(f'"{flt.reason}"'))
    if flt.since is not None:
        out.append(DecisionEntry.time >= _validate.aware(flt.since, "since"))
    if flt.until is not None:
        out.append(DecisionEntry.time < _validate.aware(flt.until, "until"))
    if flt.path_prefix is not None:
        out.append(DecisionEntry.path.startswith(flt.path_prefix, autoescape=True))
    return out


class DecisionRepository:
    """Record and search policy decisions."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, decision: DecisionRecord) -> bool:
        """Index one decision; False if its decision_id was already recorded."""
        return self.record_many([decision]) == 1

    def record_many(self, decisions: Iterable[DecisionRecord]) -> int:
        """Index decisions in one transaction; returns how many were new."""
        rows = [_row(d) for d in decisions]
        with self._db.write(f"record {len(rows)} decision(s)") as session:
            return sum(self._db.insert_new(session, DecisionEntry, rows[i:i + 500])
                       for i in range(0, len(rows), 500))

    def get(self, decision_id: str) -> DecisionRecord:
        """The decision with this id; NotFound if there is none."""
        with self._db.read(f"read decision {decision_id}") as session:
            row = session.get(DecisionEntry, decision_id)
            if row is None:
                raise NotFound(f"decision {decision_id!r} is not in the index")
            return _record(row)

    def search(self, flt: DecisionFilter | None = None, *, limit: int = 50,
               cursor: str | None = None) -> Page[DecisionRecord]:
        """Decisions newest first, filtered, in keyset pages."""
        _cursor.check_limit(limit)
        conditions = _conditions(flt or DecisionFilter())
        if cursor is not None:
            when, last = _cursor.decode(cursor, "decisions", 2)
            at = _cursor.decode_time(when)
            conditions.append(or_(DecisionEntry.time < at,
                                  and_(DecisionEntry.time == at,
                                       DecisionEntry.decision_id < str(last))))
        query = (select(DecisionEntry).where(*conditions)
                 .order_by(DecisionEntry.time.desc(), DecisionEntry.decision_id.desc())
                 .limit(limit + 1))
        with self._db.read("search decisions") as session:
            rows = list(session.scalars(query))
        items = tuple(_record(row) for row in rows[:limit])
        more = len(rows) > limit
        return Page(items, _cursor.encode("decisions", items[-1].time.isoformat(),
                                          items[-1].decision_id) if more and items else None)
