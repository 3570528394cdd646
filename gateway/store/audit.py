"""The change audit: who changed what through the store API, and when.

The repositories write their rows inside each change's own transaction. `record` is for
changes the store does not hold itself (a shadow policy kept in a control plane's memory,
an export), so they are audited in the same place.
"""

from __future__ import annotations

import json

from sqlalchemy import ColumnElement, select

from gateway.store import _cursor, _validate
from gateway.store._db import Database
from gateway.store.errors import InvalidCursor, InvalidRecord
from gateway.store.models import AuditEntry
from gateway.store.types import AuditRecord, Page

_MAX_DETAILS = 16 * 1024  # bytes of JSON


class AuditRepository:
    """Change-audit rows: listed here, written by the repositories or by `record`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, actor: str, action: str, target: str,
               details: dict[str, object] | None = None) -> None:
        """Audit a change made outside the store, in a transaction of its own."""
        who = _validate.actor(actor, "actor")
        what = _validate.text(action, "action", max_len=64)
        on = _validate.text(target, "target", max_len=256)
        try:
            size = len(json.dumps(details or {}, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise InvalidRecord(f"details: not JSON: {exc}") from None
        if size > _MAX_DETAILS:
            raise InvalidRecord(f"details: larger than {_MAX_DETAILS} bytes of JSON")
        with self._db.write(f"audit {what}") as session:
            self._db.audit(session, who, what, on, details)

    def list(self, *, actor: str | None = None, target: str | None = None,
             action: str | None = None, limit: int = 100,
             cursor: str | None = None) -> Page[AuditRecord]:
        """Audit rows newest first, filtered, in keyset pages."""
        _cursor.check_limit(limit)
        conditions: list[ColumnElement[bool]] = []
        if actor is not None:
            conditions.append(AuditEntry.actor == actor)
        if target is not None:
            conditions.append(AuditEntry.target == target)
        if action is not None:
            conditions.append(AuditEntry.action == action)
        if cursor is not None:
            (last,) = _cursor.decode(cursor, "audit", 1)
            if not isinstance(last, int):
                raise InvalidCursor("cursor is not an audit cursor")
            conditions.append(AuditEntry.id < last)
        query = (select(AuditEntry).where(*conditions).order_by(AuditEntry.id.desc())
                 .limit(limit + 1))
        with self._db.read("read change audit") as session:
            rows = list(session.scalars(query))
        items = tuple(AuditRecord(id=r.id, at=r.at, actor=r.actor, action=r.action,
                                  target=r.target, details=dict(r.details))
                      for r in rows[:limit])
        more = len(rows) > limit
        return Page(items, _cursor.encode("audit", items[-1].id) if more and items else None)
