"""The device inventory: upsert from observations, lookups by id, IP or MAC, trust verdicts."""

from __future__ import annotations

from typing import cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.store import _cursor, _validate
from gateway.store._db import Database
from gateway.store.errors import InvalidRecord, NotFound
from gateway.store.models import Device, DeviceIP
from gateway.store.types import DeviceObservation, DeviceRecord, DeviceTrust, Page

DEVICE_TRUST: tuple[DeviceTrust, ...] = ("trusted", "unknown")


def device_id(value: object, field: str = "device_id") -> str:
    """A device id: printable, 1-128 characters."""
    return _validate.text(value, field, max_len=128)


def load(session: Session, row: Device) -> DeviceRecord:
    """The record of a device row, with its IPs."""
    ips = session.scalars(select(DeviceIP.ip).where(DeviceIP.device_id == row.id)
                          .order_by(DeviceIP.ip))
    return DeviceRecord(id=row.id, mac=row.mac, ips=tuple(ips), vendor=row.vendor,
                        hostname=row.hostname, device_class=row.device_class,
                        first_seen=row.first_seen, last_seen=row.last_seen,
                        trust=cast(DeviceTrust, row.trust))


def load_many(session: Session, rows: list[Device]) -> tuple[DeviceRecord, ...]:
    """The records of many device rows, fetching their IPs in one query."""
    ips: dict[str, list[str]] = {row.id: [] for row in rows}
    if ips:
        pairs = session.execute(select(DeviceIP.device_id, DeviceIP.ip)
                                .where(DeviceIP.device_id.in_(list(ips)))
                                .order_by(DeviceIP.ip))
        for owner, ip in pairs:
            ips[owner].append(ip)
    return tuple(
        DeviceRecord(id=row.id, mac=row.mac, ips=tuple(ips[row.id]), vendor=row.vendor,
                     hostname=row.hostname, device_class=row.device_class,
                     first_seen=row.first_seen, last_seen=row.last_seen,
                     trust=cast(DeviceTrust, row.trust))
        for row in rows
    )


def _clean(obs: DeviceObservation) -> DeviceObservation:
    return DeviceObservation(
        id=device_id(obs.id, "id"),
        seen_at=_validate.aware(obs.seen_at, "seen_at"),
        mac=None if obs.mac is None else _validate.mac(obs.mac),
        ips=tuple(sorted({_validate.ip(ip, "ips") for ip in obs.ips})),
        vendor=None if obs.vendor is None else _validate.text(obs.vendor, "vendor", max_len=128),
        hostname=(None if obs.hostname is None
                  else _validate.text(obs.hostname, "hostname", max_len=255)),
        device_class=(None if obs.device_class is None
                      else _validate.text(obs.device_class, "device_class", max_len=64)),
    )


class DeviceRepository:
    """Terminals seen on the wire or enrolled by an officer."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def upsert(self, observation: DeviceObservation,
               by: str = "monitor") -> tuple[DeviceRecord, bool]:
        """Merge an observation into the inventory; returns (record, created).

        New IPs are added to the device's set, given fields overwrite stored ones,
        `first_seen`/`last_seen` widen. Creation and changes of identity fields are
        audited; a bare `last_seen` bump is not (it is not a decision anyone made).
        """
        obs = _clean(observation)
        _validate.actor(by)
        with self._db.write(f"upsert device {obs.id}") as session:
            created = self._db.insert_new(session, Device, [{
                "id": obs.id, "mac": obs.mac, "vendor": obs.vendor, "hostname": obs.hostname,
                "device_class": obs.device_class, "first_seen": obs.seen_at,
                "last_seen": obs.seen_at, "trust": "unknown",
            }]) == 1
            row = session.scalar(select(Device).where(Device.id == obs.id).with_for_update())
            if row is None:
                raise NotFound(f"device {obs.id!r} vanished during upsert")
            changes: dict[str, object] = {}
            for field in ("mac", "vendor", "hostname", "device_class"):
                new = getattr(obs, field)
                if new is not None and new != getattr(row, field):
                    changes[field] = {"from": getattr(row, field), "to": new}
                    setattr(row, field, new)
            row.first_seen = min(row.first_seen, obs.seen_at)
            row.last_seen = max(row.last_seen, obs.seen_at)
            added = self._db.insert_new(session, DeviceIP,
                                        [{"device_id": obs.id, "ip": ip} for ip in obs.ips])
            if added:
                changes["ips_added"] = added
            if created:
                self._db.audit(session, by, "device.create", f"device:{obs.id}",
                               {"mac": obs.mac, "ips": list(obs.ips)})
            elif changes:
                self._db.audit(session, by, "device.update", f"device:{obs.id}", changes)
            session.flush()
            return load(session, row), created

    def get(self, device: str) -> DeviceRecord:
        """The device with this id; NotFound if there is none."""
        with self._db.read(f"read device {device}") as session:
            row = session.get(Device, device)
            if row is None:
                raise NotFound(f"device {device!r} is not in the inventory")
            return load(session, row)

    def find(self, *, ip: str | None = None, mac: str | None = None) -> tuple[DeviceRecord, ...]:
        """Devices that have this IP or this MAC (either may match several)."""
        if ip is None and mac is None:
            raise InvalidRecord("find: give ip or mac")
        query = select(Device)
        if ip is not None:
            query = query.where(Device.id.in_(
                select(DeviceIP.device_id).where(DeviceIP.ip == _validate.ip(ip))))
        if mac is not None:
            query = query.where(Device.mac == _validate.mac(mac))
        with self._db.read("find devices") as session:
            return load_many(session, list(session.scalars(query.order_by(Device.id))))

    def list(self, *, limit: int = 100, cursor: str | None = None) -> Page[DeviceRecord]:
        """Devices ordered by id, in keyset pages."""
        _cursor.check_limit(limit)
        query = select(Device).order_by(Device.id).limit(limit + 1)
        if cursor is not None:
            (after,) = _cursor.decode(cursor, "devices", 1)
            query = query.where(Device.id > str(after))
        with self._db.read("list devices") as session:
            rows = list(session.scalars(query))
            items = load_many(session, rows[:limit])
        more = len(rows) > limit
        return Page(items, _cursor.encode("devices", items[-1].id) if more and items else None)

    def classes(self) -> dict[str, str]:
        """Device id -> device class, for every inventoried device that has a class."""
        query = (select(Device.id, Device.device_class)
                 .where(Device.device_class.is_not(None)).order_by(Device.id))
        with self._db.read("read device classes") as session:
            return {ident: cls for ident, cls in session.execute(query) if cls is not None}

    def set_trust(self, device: str, trust: DeviceTrust, by: str) -> DeviceRecord:
        """Record an officer's verdict; an active quarantine still overrides it."""
        _validate.actor(by)
        if trust not in DEVICE_TRUST:
            raise InvalidRecord(f"trust: must be 'trusted' or 'unknown', got {trust!r} "
                                "(quarantine a device with store.quarantine)")
        with self._db.write(f"set trust of device {device}") as session:
            row = session.scalar(select(Device).where(Device.id == device).with_for_update())
            if row is None:
                raise NotFound(f"device {device!r} is not in the inventory")
            old = row.trust
            row.trust = trust
            self._db.audit(session, by, "device.trust", f"device:{device}",
                           {"from": old, "to": trust})
            session.flush()
            return load(session, row)

    def trusted(self) -> tuple[DeviceRecord, ...]:
        """Every device an officer marked trusted."""
        with self._db.read("list trusted devices") as session:
            rows = session.scalars(select(Device).where(Device.trust == "trusted")
                                   .order_by(Device.id))
            return load_many(session, list(rows))
