"""Alerts: idempotent ingest, triage (status, assignee, comments), listing and grouping."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import ColumnElement, and_, case, delete, func, or_, select
from sqlalchemy.orm import Session

from gateway.store import _cursor, _validate
from gateway.store._alert_doc import AlertDocument, validate
from gateway.store._db import Database
from gateway.store.errors import Conflict, InvalidRecord, NotFound
from gateway.store.models import Alert, AlertComment
from gateway.store.types import (
    ALERT_STATUSES,
    TRANSITIONS,
    AlertFilter,
    AlertGroup,
    AlertRecord,
    AlertStatus,
    Page,
)
from gateway.store.types import (
    AlertComment as AlertCommentRecord,
)

_OPEN = ("new", "triaged")
CLOSED: tuple[AlertStatus, ...] = ("resolved", "false-positive")
MAX_RETENTION_DAYS = 36_500


def _record(row: Alert) -> AlertRecord:
    return AlertRecord(
        id=row.id, timestamp=row.timestamp, rule_id=row.rule_id, rule_name=row.rule_name,
        severity=row.severity, source_ip=row.source_ip, source_mac=row.source_mac,
        destination_ip=row.destination_ip, destination_port=row.destination_port,
        device_id=row.device_id, group_key=row.group_key, message=row.message,
        status=cast(AlertStatus, row.status), assignee=row.assignee,
        ingested_at=row.ingested_at, updated_at=row.updated_at, document=dict(row.document),
    )


def _comment(row: AlertComment) -> AlertCommentRecord:
    return AlertCommentRecord(id=row.id, alert_id=row.alert_id, author=row.author, at=row.at,
                              body=row.body)


def _conditions(flt: AlertFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    for status in flt.status:
        if status not in ALERT_STATUSES:
            raise InvalidRecord(f"status: must be one of {', '.join(ALERT_STATUSES)}, "
                                f"got {status!r}")
    if flt.status:
        conditions.append(Alert.status.in_(flt.status))
    if flt.rule_id is not None:
        conditions.append(Alert.rule_id == flt.rule_id)
    if flt.group_key is not None:
        conditions.append(Alert.group_key == flt.group_key)
    if flt.min_severity is not None:
        conditions.append(Alert.severity >= flt.min_severity)
    if flt.since is not None:
        conditions.append(Alert.timestamp >= _validate.aware(flt.since, "since"))
    if flt.until is not None:
        conditions.append(Alert.timestamp < _validate.aware(flt.until, "until"))
    if flt.assignee is not None:
        conditions.append(Alert.assignee == flt.assignee)
    if flt.text:
        needle = flt.text.lower()
        conditions.append(or_(
            func.lower(Alert.message).contains(needle, autoescape=True),
            func.lower(Alert.rule_name).contains(needle, autoescape=True),
            func.lower(Alert.rule_id).contains(needle, autoescape=True),
        ))
    return conditions


class AlertRepository:
    """Contract-5 alerts with SOC triage state."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def ingest(self, alert: Mapping[str, object], by: str = "monitor") -> tuple[str, bool]:
        """Store one alert; returns (alert id, created). Re-ingesting is a no-op."""
        doc = validate(alert)
        created = self._insert([doc], 1, by)
        return doc.id, created == 1

    def ingest_many(self, alerts: Iterable[Mapping[str, object]],
                    by: str = "monitor") -> tuple[int, int]:
        """Store alerts in one transaction; returns (created, duplicates).

        Every alert is validated before anything is written, so one malformed alert
        rejects the whole batch with an `InvalidRecord` naming its position.
        """
        docs: list[AlertDocument] = []
        for index, alert in enumerate(alerts):
            try:
                docs.append(validate(alert))
            except InvalidRecord as exc:
                raise InvalidRecord(f"alert #{index + 1}: {exc}") from None
        created = self._insert(docs, len(docs), by)
        return created, len(docs) - created

    def _insert(self, docs: list[AlertDocument], total: int, by: str) -> int:
        _validate.actor(by)
        now = self._db.now()
        unique = {d.id: d for d in reversed(docs)}  # the first of equal ids wins
        rows = [{
            "id": d.id, "timestamp": d.timestamp, "rule_id": d.rule_id,
            "rule_name": d.rule_name, "severity": d.severity, "source_ip": d.source_ip,
            "source_mac": d.source_mac, "destination_ip": d.destination_ip,
            "destination_port": d.destination_port, "device_id": d.device_id,
            "group_key": d.group_key, "message": d.message, "document": d.document,
            "status": "new", "assignee": None, "ingested_at": now, "updated_at": now,
        } for d in unique.values()]
        with self._db.write(f"ingest {total} alert(s)") as session:
            created = 0
            for start in range(0, len(rows), 500):
                created += self._db.insert_new(session, Alert, rows[start:start + 500])
            if created:
                self._db.audit(session, by, "alert.ingest",
                               f"alert:{docs[0].id}" if total == 1 else f"alerts:{created}",
                               {"created": created, "duplicates": total - created})
        return created

    def get(self, alert_id: str) -> AlertRecord:
        """The alert with this id; NotFound if there is none."""
        with self._db.read(f"read alert {alert_id}") as session:
            return _record(self._row(session, alert_id))

    def list(self, flt: AlertFilter | None = None, *, limit: int = 50,
             cursor: str | None = None) -> Page[AlertRecord]:
        """Alerts newest first, filtered; keyset pages stay stable while alerts arrive."""
        _cursor.check_limit(limit)
        conditions = _conditions(flt or AlertFilter())
        if cursor is not None:
            when, last_id = _cursor.decode(cursor, "alerts", 2)
            at = _cursor.decode_time(when)
            conditions.append(or_(Alert.timestamp < at,
                                  and_(Alert.timestamp == at, Alert.id < str(last_id))))
        query = (select(Alert).where(*conditions)
                 .order_by(Alert.timestamp.desc(), Alert.id.desc()).limit(limit + 1))
        with self._db.read("list alerts") as session:
            rows = list(session.scalars(query))
        items = tuple(_record(row) for row in rows[:limit])
        more = len(rows) > limit
        next_cursor = (_cursor.encode("alerts", items[-1].timestamp.isoformat(), items[-1].id)
                       if more and items else None)
        return Page(items=items, next_cursor=next_cursor)

    def search(self, text: str, *, limit: int = 50,
               cursor: str | None = None) -> Page[AlertRecord]:
        """Alerts whose message, rule name or rule id contains `text` (case-insensitive)."""
        return self.list(AlertFilter(text=text), limit=limit, cursor=cursor)

    def groups(self, flt: AlertFilter | None = None) -> tuple[AlertGroup, ...]:
        """Counts per (device or source IP, rule), most recently active first."""
        is_open = case((Alert.status.in_(_OPEN), 1), else_=0)
        query = (
            select(Alert.group_key, Alert.rule_id, func.count(), func.sum(is_open),
                   func.max(Alert.severity), func.min(Alert.timestamp),
                   func.max(Alert.timestamp))
            .where(*_conditions(flt or AlertFilter()))
            .group_by(Alert.group_key, Alert.rule_id)
            .order_by(func.max(Alert.timestamp).desc(), Alert.group_key, Alert.rule_id)
        )
        with self._db.read("group alerts") as session:
            result = session.execute(query).all()
        groups = []
        for key, rule, count, open_count, severity, first, last in result:
            groups.append(AlertGroup(group_key=key, rule_id=rule, count=int(count),
                                     open_count=int(open_count or 0), max_severity=int(severity),
                                     first_seen=first, last_seen=last))
        return tuple(groups)

    def set_status(self, alert_id: str, status: AlertStatus, by: str) -> AlertRecord:
        """Move an alert along new -> triaged -> resolved | false-positive (or reopen)."""
        _validate.actor(by)
        if status not in ALERT_STATUSES:
            raise InvalidRecord(f"status: must be one of {', '.join(ALERT_STATUSES)}, "
                                f"got {status!r}")
        with self._db.write(f"set status of alert {alert_id}") as session:
            row = self._row(session, alert_id, lock=True)
            if status not in TRANSITIONS[row.status]:
                raise Conflict(f"alert {alert_id}: cannot go from {row.status!r} to {status!r}")
            old = row.status
            row.status = status
            row.updated_at = self._db.now()
            self._db.audit(session, by, "alert.status", f"alert:{alert_id}",
                           {"from": old, "to": status})
            return _record(row)

    def assign(self, alert_id: str, assignee: str | None, by: str) -> AlertRecord:
        """Give the alert to an analyst (None: unassign)."""
        _validate.actor(by)
        if assignee is not None:
            _validate.actor(assignee, "assignee")
        with self._db.write(f"assign alert {alert_id}") as session:
            row = self._row(session, alert_id, lock=True)
            old = row.assignee
            row.assignee = assignee
            row.updated_at = self._db.now()
            self._db.audit(session, by, "alert.assign", f"alert:{alert_id}",
                           {"from": old, "to": assignee})
            return _record(row)

    def comment(self, alert_id: str, body: str, author: str) -> AlertCommentRecord:
        """Add a comment to the alert's triage thread."""
        _validate.actor(author, "author")
        _validate.long_text(body, "body")
        with self._db.write(f"comment on alert {alert_id}") as session:
            row = self._row(session, alert_id, lock=True)
            now = self._db.now()
            comment = AlertComment(alert_id=alert_id, author=author, at=now, body=body)
            session.add(comment)
            row.updated_at = now
            session.flush()
            self._db.audit(session, author, "alert.comment", f"alert:{alert_id}",
                           {"comment_id": comment.id})
            return _comment(comment)

    def comments(self, alert_id: str) -> tuple[AlertCommentRecord, ...]:
        """The alert's comments, oldest first."""
        with self._db.read(f"read comments of alert {alert_id}") as session:
            self._row(session, alert_id)
            rows = session.scalars(select(AlertComment).where(AlertComment.alert_id == alert_id)
                                   .order_by(AlertComment.id))
            return tuple(_comment(row) for row in rows)

    def count(self, flt: AlertFilter | None = None) -> int:
        """How many alerts match."""
        query = select(func.count()).select_from(Alert).where(*_conditions(flt or AlertFilter()))
        with self._db.read("count alerts") as session:
            return int(session.scalar(query) or 0)

    def purge(self, older_than_days: int, by: str, *,
              dry_run: bool = False) -> tuple[int, datetime]:
        """Delete closed alerts (resolved / false-positive) whose timestamp and last change
        are both more than `older_than_days` old, with their comments, audited as
        `alert.retention`; open alerts are never deleted, however old.

        Returns (how many were, or with `dry_run` would be, deleted; the cutoff).
        """
        if (isinstance(older_than_days, bool) or not isinstance(older_than_days, int)
                or not 1 <= older_than_days <= MAX_RETENTION_DAYS):
            raise InvalidRecord(f"older_than_days: must be 1..{MAX_RETENTION_DAYS}, "
                                f"got {older_than_days!r}")
        _validate.actor(by)
        cutoff = self._db.now() - timedelta(days=older_than_days)
        old_and_closed = and_(Alert.status.in_(CLOSED), Alert.timestamp < cutoff,
                              Alert.updated_at < cutoff)
        with self._db.write(f"alert retention ({older_than_days} days)") as session:
            ids = list(session.scalars(select(Alert.id).where(old_and_closed)))
            if not dry_run and ids:
                for start in range(0, len(ids), 500):
                    chunk = ids[start:start + 500]
                    session.execute(delete(AlertComment)
                                    .where(AlertComment.alert_id.in_(chunk)))
                    session.execute(delete(Alert).where(Alert.id.in_(chunk)))
                self._db.audit(session, by, "alert.retention", "alerts",
                               {"deleted": len(ids), "older_than_days": older_than_days,
                                "cutoff": cutoff.isoformat(), "statuses": list(CLOSED)})
        return len(ids), cutoff

    @staticmethod
    def _row(session: Session, alert_id: str, *, lock: bool = False) -> Alert:
        query = select(Alert).where(Alert.id == alert_id)
        if lock:
            query = query.with_for_update()
        row = session.scalar(query)
        if row is None:
            raise NotFound(f"alert {alert_id!r} does not exist")
        return row
