"""The change audit: read access to who changed what through the store API, and when."""

from __future__ import annotations

from sqlalchemy import ColumnElement, select

from gateway.store import _cursor
from gateway.store._db import Database
from gateway.store.errors import InvalidCursor
from gateway.store.models import AuditEntry
from gateway.store.types import AuditRecord, Page


class AuditRepository:
    """Read-only: rows are written by the repositories inside each change's transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

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
