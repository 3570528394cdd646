"""DeviceTrustSource over the store: snapshot lookups, refresh across stores, store down."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.store import (
    DeviceObservation,
    DeviceRecord,
    InvalidRecord,
    QuarantinedDevice,
    Store,
    StoreTrustSource,
    TrustSnapshot,
    TrustUnavailable,
)
from tests.gateway.store._relay import Relay
from tests.gateway.store.conftest import PG_HOST, PG_PORT, Target

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
LATER = T0 + timedelta(hours=1)


def _q(device: str, ips: tuple[str, ...] = (), mac: str | None = None,
       until: datetime | None = None) -> QuarantinedDevice:
    return QuarantinedDevice(quarantine_id=1, device_id=device, mac=mac, ips=ips,
                             reason="test", until=until)


def _trusted(device: str) -> DeviceRecord:
    return DeviceRecord(id=device, mac=None, ips=("10.0.0.50",), vendor=None, hostname=None,
                        device_class=None, first_seen=T0, last_seen=T0, trust="trusted")


SNAPSHOT = TrustSnapshot.build(
    T0,
    (_q("cam-7", ("10.0.0.7",), "02:00:00:00:00:07"),
     _q("cam-8", ("10.0.0.8",), until=LATER)),
    (_trusted("ok-1"), _trusted("cam-7")),
)

LOOKUPS = [
    ("quarantined by id", {"device_id": "cam-7"}, T0, "quarantined"),
    ("quarantined by ip", {"ip": "10.0.0.7"}, T0, "quarantined"),
    ("quarantined by mac", {"mac": "02:00:00:00:00:07"}, T0, "quarantined"),
    ("quarantine beats trusted verdict", {"device_id": "cam-7"}, T0, "quarantined"),
    ("trusted id on a quarantined ip", {"device_id": "ok-1", "ip": "10.0.0.7"}, T0,
     "quarantined"),
    ("trusted by id", {"device_id": "ok-1"}, T0, "trusted"),
    ("trusted device's ip alone is not trust", {"ip": "10.0.0.50"}, T0, "unknown"),
    ("unknown id", {"device_id": "nobody"}, T0, "unknown"),
    ("nothing given", {}, T0, "unknown"),
    ("timed quarantine in force", {"ip": "10.0.0.8"}, LATER - timedelta(seconds=1),
     "quarantined"),
    ("timed quarantine expired", {"ip": "10.0.0.8"}, LATER, "unknown"),
    ("open-ended quarantine never expires", {"device_id": "cam-7"}, T0 + timedelta(days=900),
     "quarantined"),
]


@pytest.mark.parametrize(("note", "ids", "now", "expected"), LOOKUPS,
                         ids=[row[0] for row in LOOKUPS])
def test_snapshot_lookup(note: str, ids: dict[str, str], now: datetime,
                         expected: str) -> None:
    got = SNAPSHOT.trust_of(now, ids.get("device_id"), ids.get("ip"), ids.get("mac"))
    assert got == expected, note


def _seed(store: Store) -> None:
    store.devices.upsert(DeviceObservation(id="cam-7", seen_at=T0, mac="02:00:00:00:00:07",
                                           ips=("10.0.0.7",)))
    store.devices.upsert(DeviceObservation(id="ok-1", seen_at=T0, ips=("10.0.0.50",)))
    store.devices.set_trust("ok-1", "trusted", by="olga")


async def _until(check: Callable[[], bool], what: str, deadline_s: float = 15.0) -> None:
    """Poll `check` until true; fail with `what` after the deadline."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while not check():
        if loop.time() > end:
            pytest.fail(f"timed out waiting for: {what}")
        await asyncio.sleep(0.02)


def test_trust_is_unavailable_before_first_load(store: Store) -> None:
    source = StoreTrustSource(store.quarantines)
    with pytest.raises(TrustUnavailable, match="not loaded"):
        source.trust_of(device_id="cam-7")
    assert source.status()["loaded"] is False


def test_refresh_reads_the_store(store: Store) -> None:
    _seed(store)
    store.quarantine("cam-7", "scan", by="olga")
    source = StoreTrustSource(store.quarantines)
    assert source.refresh()
    assert source.trust_of(ip="10.0.0.7") == "quarantined"
    assert source.trust_of(mac="02-00-00-00-00-07") == "quarantined"
    assert source.trust_of(device_id="ok-1") == "trusted"
    assert source.stale_since is None
    with pytest.raises(InvalidRecord, match="not an IP"):
        source.trust_of(ip="10.0.0.999")
    with pytest.raises(InvalidRecord, match="interval"):
        StoreTrustSource(store.quarantines, interval=0)


async def test_two_stores_see_each_others_quarantines(target: Target) -> None:
    writer = target.open()
    writer.migrate()
    _seed(writer)
    reader = target.open()  # a second engine: what a second gateway process holds
    source = StoreTrustSource(reader.quarantines, interval=0.05)
    await source.start()
    try:
        assert source.trust_of(device_id="cam-7") == "unknown"
        await asyncio.to_thread(writer.quarantine, "cam-7", "scan", "olga")
        await _until(lambda: source.trust_of(device_id="cam-7") == "quarantined",
                     "the reader's refresh to see the quarantine")
        await asyncio.to_thread(writer.release, "cam-7", "olga")
        await _until(lambda: source.trust_of(device_id="cam-7") == "unknown",
                     "the reader's refresh to see the release")
    finally:
        await source.close()


def _take_down(target: Target, tmp_path: Path) -> tuple[Store, Callable[[], None]]:
    """A store on `target` and a function that makes its database unreachable."""
    if target.backend == "postgresql":
        relay = Relay(PG_HOST, PG_PORT)
        relayed = target.url.replace(f":{PG_PORT}/", f":{relay.port}/")
        return target.open(relayed), relay.cut
    store = target.open()
    db_file = Path(target.url.removeprefix("sqlite:///"))

    def cut() -> None:
        store.close()  # drop pooled connections: the next query must reopen the file
        shutil.move(db_file.parent, tmp_path.parent / f"{tmp_path.name}-away")
        db_file.parent.mkdir()
        db_file.mkdir()  # a directory where the database file was: it cannot be opened

    return store, cut


async def test_store_down_keeps_enforcing_the_last_snapshot(target: Target,
                                                            tmp_path: Path) -> None:
    store, cut = _take_down(target, tmp_path)
    store.migrate()
    _seed(store)
    store.quarantine("cam-7", "scan", by="olga")
    now = [datetime.now(UTC)]
    store.quarantine("ok-1", "short", by="olga", since=now[0], until=now[0] + timedelta(minutes=5))
    source = StoreTrustSource(store.quarantines, interval=0.05, clock=lambda: now[0])
    await source.start()
    try:
        assert source.trust_of(device_id="cam-7") == "quarantined"
        cut()
        await _until(lambda: source.stale_since is not None, "the refresh to fail")
        assert source.last_error is not None and "unavailable" in source.last_error
        assert source.status()["stale_since"] is not None
        # still enforced with the last known set
        assert source.trust_of(device_id="cam-7") == "quarantined"
        assert source.trust_of(ip="10.0.0.7") == "quarantined"
        assert source.trust_of(device_id="ok-1") == "quarantined"
        # and a timed quarantine still ends on time
        now[0] += timedelta(minutes=6)
        assert source.trust_of(device_id="ok-1") == "trusted"
        assert source.trust_of(device_id="cam-7") == "quarantined"
    finally:
        await source.close()


async def test_start_with_the_store_down_fails_closed(target: Target, tmp_path: Path) -> None:
    store, cut = _take_down(target, tmp_path)
    store.migrate()
    cut()
    source = StoreTrustSource(store.quarantines, interval=0.05)
    await source.start()
    try:
        assert source.stale_since is not None
        with pytest.raises(TrustUnavailable, match="unavailable"):
            source.trust_of(device_id="cam-7")
    finally:
        await source.close()


class _BrokenSnapshot:
    """A quarantine store whose snapshot hits a bug (not a store fault)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.broken = False

    def snapshot(self, now: datetime | None = None) -> object:
        if self.broken:
            raise RuntimeError("bug in snapshot")
        return self.store.quarantines.snapshot(now)


def test_a_bug_in_refresh_is_reported_and_the_snapshot_kept(store: Store) -> None:
    _seed(store)
    store.quarantine("cam-7", "scan", by="olga")
    broken = _BrokenSnapshot(store)
    source = StoreTrustSource(broken, interval=1)  # type: ignore[arg-type]
    assert source.refresh()
    broken.broken = True
    assert not source.refresh()
    assert source.stale_since is not None
    assert source.last_error == "RuntimeError: bug in snapshot"
    assert source.trust_of(device_id="cam-7") == "quarantined"
    broken.broken = False
    assert source.refresh() and source.stale_since is None and source.last_error is None


async def test_a_stuck_refresh_makes_the_snapshot_stale(store: Store) -> None:
    now = [datetime.now(UTC)]
    source = StoreTrustSource(store.quarantines, interval=60, clock=lambda: now[0])
    await source.start()
    try:
        taken = source.snapshot.taken_at if source.snapshot else None
        assert taken is not None and source.stale_since is None
        now[0] += timedelta(seconds=179)
        assert source.stale_since is None
        now[0] += timedelta(seconds=2)  # three intervals without a refresh
        assert source.stale_since == taken
        assert source.status()["stale_since"] == taken.isoformat()
    finally:
        await source.close()


def test_verdict_names_the_quarantined_device_and_reason(store: Store) -> None:
    _seed(store)
    store.quarantine("cam-7", "telnet_bruteforce", by="monitor")
    source = StoreTrustSource(store.quarantines)
    source.refresh()
    verdict = source.verdict(ip="10.0.0.7")
    assert (verdict.trust, verdict.device_id, verdict.reason) == (
        "quarantined", "cam-7", "telnet_bruteforce")
    assert source.verdict(device_id="ok-1").reason == ""
    later = datetime.now(UTC) + timedelta(days=1)
    assert source.verdict(ip="10.0.0.7", now=later).trust == "quarantined"


@pytest.mark.parametrize(("trust_any", "expected"), [(False, "unknown"), (True, "trusted")])
def test_trusting_any_certified_device(store: Store, trust_any: bool, expected: str) -> None:
    _seed(store)
    store.quarantine("cam-7", "scan", by="olga")
    source = StoreTrustSource(store.quarantines, trust_any_device_id=trust_any)
    source.refresh()
    assert source.trust_of(device_id="never-seen") == expected
    assert source.trust_of(device_id="cam-7") == "quarantined"  # quarantine still wins
