"""Work run in separate processes by the concurrency tests (spawned, so importable)."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.store import DeviceObservation, Store
from tests.gateway.store.conftest import make_alert


def ingest(url: str, schema: str | None, worker: int, count: int) -> int:
    """Ingest `count` distinct alerts one transaction each, bumping a shared device too."""
    store = Store.open(url, schema=schema)
    try:
        created = 0
        for n in range(count):
            _, new = store.alerts.ingest(make_alert(worker * 100_000 + n, second=n % 3600,
                                                    device=f"dev-{worker}"))
            created += new
            store.devices.upsert(DeviceObservation(
                id="shared", seen_at=datetime.now(UTC), ips=(f"10.{worker}.{n // 250}.{n % 250}",)))
        return created
    finally:
        store.close()
