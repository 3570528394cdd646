"""Quarantines: a device cut off from the zones until a time or until released.

An active quarantine (started, not expired, not released) makes the device's trust
`quarantined` in the policy input, whatever the inventory says.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from gateway.store import _validate
from gateway.store._db import Database
from gateway.store.devices import device_id, load_many
from gateway.store.errors import InvalidRecord, NotFound
from gateway.store.models import Device, Quarantine
from gateway.store.types import DeviceRecord, QuarantinedDevice, QuarantineRecord


def _record(row: Quarantine) -> QuarantineRecord:
    return QuarantineRecord(id=row.id, device_id=row.device_id, reason=row.reason,
                            by=row.quarantined_by, since=row.since, until=row.until,
                            released_at=row.released_at, released_by=row.released_by)


def _active(now: datetime) -> ColumnElement[bool]:
    return and_(Quarantine.released_at.is_(None), Quarantine.since <= now,
                or_(Quarantine.until.is_(None), Quarantine.until > now))


class QuarantineRepository:
    """Who was cut off, why, by whom, and for how long."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def quarantine(self, device: str, reason: str, by: str, *,
                   until: datetime | None = None,
                   since: datetime | None = None) -> QuarantineRecord:
        """Quarantine an inventoried device from `since` (default now) to `until` (or release)."""
        device_id(device, "device_id")
        _validate.long_text(reason, "reason", max_len=2000)
        _validate.actor(by)
        start = self._db.now() if since is None else _validate.aware(since, "since")
        if until is not None and _validate.aware(until, "until") <= start:
            raise InvalidRecord(f"until: {until.isoformat()} is not after since "
                                f"{start.isoformat()}")
        with self._db.write(f"quarantine device {device}") as session:
            if session.scalar(select(Device.id).where(Device.id == device)
                              .with_for_update()) is None:
                raise NotFound(f"device {device!r} is not in the inventory; "
                               "add it before quarantining it")
            row = Quarantine(device_id=device, reason=reason, quarantined_by=by, since=start,
                             until=until)
            session.add(row)
            session.flush()
            self._db.audit(session, by, "device.quarantine", f"device:{device}",
                           {"quarantine_id": row.id, "reason": reason,
                            "until": None if until is None else until.isoformat()})
            return _record(row)

    def release(self, device: str, by: str) -> tuple[QuarantineRecord, ...]:
        """End every active quarantine of the device; NotFound if none is active."""
        _validate.actor(by)
        with self._db.write(f"release device {device}") as session:
            now = self._db.now()
            rows = list(session.scalars(
                select(Quarantine).where(Quarantine.device_id == device, _active(now))
                .order_by(Quarantine.id).with_for_update()))
            if not rows:
                raise NotFound(f"device {device!r} has no active quarantine")
            for row in rows:
                row.released_at = now
                row.released_by = by
            self._db.audit(session, by, "device.release", f"device:{device}",
                           {"quarantine_ids": [row.id for row in rows]})
            session.flush()
            return tuple(_record(row) for row in rows)

    def history(self, device: str) -> tuple[QuarantineRecord, ...]:
        """Every quarantine of the device, oldest first."""
        with self._db.read(f"read quarantines of {device}") as session:
            rows = session.scalars(select(Quarantine).where(Quarantine.device_id == device)
                                   .order_by(Quarantine.id))
            return tuple(_record(row) for row in rows)

    def active(self, now: datetime | None = None) -> tuple[QuarantinedDevice, ...]:
        """Quarantines in force at `now` (default: the store's clock), with device addresses."""
        at = self._db.now() if now is None else _validate.aware(now, "now")
        with self._db.read("read active quarantines") as session:
            return self._active(session, at)

    def snapshot(self, now: datetime | None = None,
                 ) -> tuple[tuple[QuarantinedDevice, ...], tuple[DeviceRecord, ...]]:
        """Active quarantines and trusted devices, read in one transaction."""
        at = self._db.now() if now is None else _validate.aware(now, "now")
        with self._db.read("read device trust snapshot") as session:
            quarantined = self._active(session, at)
            trusted = load_many(session, list(session.scalars(
                select(Device).where(Device.trust == "trusted").order_by(Device.id))))
            return quarantined, trusted

    @staticmethod
    def _active(session: Session, now: datetime) -> tuple[QuarantinedDevice, ...]:
        rows = list(session.execute(
            select(Quarantine, Device).join(Device, Device.id == Quarantine.device_id)
            .where(_active(now)).order_by(Quarantine.id)))
        devices = {d.id: d for d in load_many(session, list({d.id: d for _, d in rows}.values()))}
        return tuple(
            QuarantinedDevice(quarantine_id=q.id, device_id=q.device_id,
                              mac=devices[q.device_id].mac, ips=devices[q.device_id].ips,
                              reason=q.reason, until=q.until)
            for q, _ in rows
        )
