"""Alert retention: delete closed alerts (resolved or false-positive) older than N days.

The store port has no delete verb for alerts yet, so this module runs the one statement
itself inside the store's own guarded write transaction, with the change-audit row in the
same transaction (who, when, how many, the cutoff). It belongs in
`gateway.store.alerts.AlertRepository` as `purge(before, by)`; when that lands this module
becomes a one-line call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, select

from gateway.store import Store
from gateway.store.models import Alert, AlertComment
from gateway.store.types import AlertStatus

CLOSED: tuple[AlertStatus, ...] = ("resolved", "false-positive")
MAX_DAYS = 36_500


@dataclass(frozen=True, slots=True)
class RetentionResult:
    """What one retention run removed."""

    deleted: int
    cutoff: datetime


def purge_closed_alerts(store: Store, older_than_days: int, by: str, *,
                        dry_run: bool = False) -> RetentionResult:
    """Delete alerts closed (resolved / false-positive) whose timestamp and last change are
    both more than `older_than_days` days old, with their comments; audited as
    `alert.retention`. Open alerts are never deleted, however old."""
    if not 1 <= older_than_days <= MAX_DAYS:
        raise ValueError(f"older_than_days: must be 1..{MAX_DAYS}, got {older_than_days}")
    db = store.alerts._db
    cutoff = db.now() - timedelta(days=older_than_days)
    old_and_closed = and_(Alert.status.in_(CLOSED), Alert.timestamp < cutoff,
                          Alert.updated_at < cutoff)
    with db.write(f"alert retention ({older_than_days} days)") as session:
        ids = list(session.scalars(select(Alert.id).where(old_and_closed)))
        if not dry_run and ids:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                session.execute(delete(AlertComment).where(AlertComment.alert_id.in_(chunk)))
                session.execute(delete(Alert).where(Alert.id.in_(chunk)))
            db.audit(session, by, "alert.retention", "alerts",
                     {"deleted": len(ids), "older_than_days": older_than_days,
                      "cutoff": cutoff.isoformat(), "statuses": list(CLOSED)})
    return RetentionResult(deleted=len(ids), cutoff=cutoff)
