"""Record the devices the monitor saw in the store's inventory.

The camera's quarantine no longer goes through here: the monitor posts its alerts to the
control plane over mTLS and the control plane, configured with `control.auto_quarantine`,
quarantines the device of a severe alert itself (gateway/control/auto_quarantine.py).
What remains is the inventory: the monitor writes it to a file (it depends on nothing of
ours, DESIGN.md) and the control plane only adds the devices it quarantines, so the rest
(the traffic sensor the officer quarantines through the API in the tour) is recorded
here, by "monitor", exactly as the inventory sync of a deployment would.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from gateway.demo.errors import DemoError
from gateway.store import DeviceObservation, Store, StoreError


def _entries(path: Path) -> list[dict[str, object]]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DemoError(f"{path}: cannot read the monitor's output: {exc}") from None
    devices = raw.get("devices", []) if isinstance(raw, dict) else None
    if not isinstance(devices, list) or not all(isinstance(d, dict) for d in devices):
        raise DemoError(f"{path}: 'devices' must be a list of objects")
    return devices


def _strings(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def migrate(url: str) -> None:
    """Create the store's schema."""
    try:
        with Store.open(url) as store:
            store.migrate()
    except StoreError as exc:
        raise DemoError(f"store {url}: {exc}") from None


def record_inventory(url: str, inventory: Path) -> int:
    """Merge the monitor's inventory file into the store; returns the devices recorded."""
    now = datetime.now(UTC)
    recorded: set[str] = set()
    try:
        with Store.open(url) as store:
            for device in _entries(inventory):
                device_id = _text(device.get("device_id"))
                if device_id is None:
                    continue
                store.devices.upsert(DeviceObservation(
                    id=device_id, seen_at=now, mac=_text(device.get("mac")),
                    ips=_strings(device.get("ips")), vendor=_text(device.get("vendor"))),
                    by="monitor")
                recorded.add(device_id)
    except StoreError as exc:
        raise DemoError(f"store {url}: {exc}") from None
    return len(recorded)
