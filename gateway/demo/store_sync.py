"""Record the monitor's verdict in the store: the devices it saw and the quarantines it
decided (and its alerts, when no control plane took them).

The monitor depends on nothing of ours (DESIGN.md), so it cannot write the store itself,
and the control plane lets its certificate (role `alert-ingester`) post alerts only. Its
alerts therefore travel monitor -> control plane over mTLS, and its quarantine decision
(the file it writes) is recorded here, in the store, by "monitor", exactly as `zonegate
store quarantine DEVICE --by monitor` would. The gateway (`ingress.device_trust: store`)
enforces it from the store within one refresh interval, like any officer's quarantine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gateway.demo.errors import DemoError
from gateway.store import DeviceObservation, Store, StoreError


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What went into the store."""

    alerts_created: int
    devices: int
    quarantined: tuple[str, ...]


def _json(path: Path) -> dict[str, object]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DemoError(f"{path}: cannot read the monitor's output: {exc}") from None
    if not isinstance(raw, dict):
        raise DemoError(f"{path}: not a JSON object")
    return raw


def _entries(path: Path) -> list[dict[str, object]]:
    devices = _json(path).get("devices", [])
    if not isinstance(devices, list) or not all(isinstance(d, dict) for d in devices):
        raise DemoError(f"{path}: 'devices' must be a list of objects")
    return devices


def _strings(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def migrate(url: str) -> None:
    """Create the store's schema."""
    try:
        with Store.open(url) as store:
            store.migrate()
    except StoreError as exc:
        raise DemoError(f"store {url}: {exc}") from None


def sync_monitor(url: str, *, alerts: Path | None, inventory: Path,
                 quarantine: Path) -> SyncReport:
    """Put the monitor's inventory and quarantines (and `alerts`, if given) into the store."""
    lines = alerts.read_text(encoding="utf-8").splitlines() \
        if alerts is not None and alerts.exists() else []
    try:
        documents = [json.loads(line) for line in lines if line.strip()]
    except json.JSONDecodeError as exc:
        raise DemoError(f"{alerts}: not NDJSON: {exc}") from None
    now = datetime.now(UTC)
    try:
        with Store.open(url) as store:
            created = 0
            if documents:
                created, _duplicates = store.alerts.ingest_many(documents, by="monitor")
            seen = _entries(inventory) + _entries(quarantine)
            for device in seen:
                device_id = _text(device.get("device_id"))
                if device_id is None:
                    continue
                store.devices.upsert(DeviceObservation(
                    id=device_id, seen_at=now, mac=_text(device.get("mac")),
                    ips=_strings(device.get("ips")), vendor=_text(device.get("vendor"))),
                    by="monitor")
            active = {q.device_id for q in store.active_quarantines(now)}
            quarantined: list[str] = []
            for entry in _entries(quarantine):
                device_id = _text(entry.get("device_id"))
                until = _time(entry.get("until"))
                if device_id is None or device_id in active or (until and until <= now):
                    continue
                store.quarantine(device_id, f"monitor: {entry.get('rule_id', 'alert')}",
                                 "monitor", until=until)
                quarantined.append(device_id)
    except StoreError as exc:
        raise DemoError(f"store {url}: {exc}") from None
    return SyncReport(created, len({d.get("device_id") for d in seen}), tuple(quarantined))
