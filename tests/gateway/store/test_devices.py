"""Device inventory and quarantines, including expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.store import (
    DeviceObservation,
    InvalidRecord,
    NotFound,
    Store,
)

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def _cam(store: Store, device: str = "cam-7", *, ips: tuple[str, ...] = ("10.0.0.7",),
         mac: str | None = "02:00:00:00:00:07", at: datetime = T0) -> None:
    store.devices.upsert(DeviceObservation(id=device, seen_at=at, mac=mac, ips=ips))


def test_upsert_merges_observations(store: Store) -> None:
    rec, created = store.devices.upsert(DeviceObservation(
        id="cam-7", seen_at=T0, mac="02-00-00-00-00-07", ips=("10.0.0.7",), vendor="Hikvision"))
    assert created
    assert (rec.mac, rec.ips, rec.trust) == ("02:00:00:00:00:07", ("10.0.0.7",), "unknown")
    rec, created = store.devices.upsert(DeviceObservation(
        id="cam-7", seen_at=T0 - timedelta(hours=1), ips=("fd00:0::7",), hostname="cam7"))
    assert not created
    assert rec.ips == ("10.0.0.7", "fd00::7")
    assert (rec.vendor, rec.hostname) == ("Hikvision", "cam7")
    assert (rec.first_seen, rec.last_seen) == (T0 - timedelta(hours=1), T0)
    rec, _ = store.devices.upsert(DeviceObservation(id="cam-7", seen_at=T0 + timedelta(hours=2)))
    assert rec.last_seen == T0 + timedelta(hours=2)
    actions = [e.action for e in store.audit.list(target="device:cam-7").items]
    assert actions == ["device.update", "device.create"]  # the bare last_seen bump is silent


def test_find_by_ip_and_mac(store: Store) -> None:
    _cam(store, "cam-1", ips=("10.0.0.1",), mac="02:00:00:00:00:01")
    _cam(store, "cam-2", ips=("10.0.0.1", "10.0.0.2"), mac="02:00:00:00:00:02")
    assert [d.id for d in store.devices.find(ip="10.0.0.1")] == ["cam-1", "cam-2"]
    assert [d.id for d in store.devices.find(ip="10.0.0.2")] == ["cam-2"]
    assert [d.id for d in store.devices.find(mac="02:00:00:00:00:01")] == ["cam-1"]
    assert [d.id for d in store.devices.find(ip="10.0.0.1", mac="02:00:00:00:00:02")] == [
        "cam-2"]
    assert store.devices.find(ip="10.9.9.9") == ()
    with pytest.raises(InvalidRecord, match="give ip or mac"):
        store.devices.find()


def test_list_devices_in_pages(store: Store) -> None:
    for n in range(7):
        _cam(store, f"dev-{n}", ips=(f"10.0.1.{n}",), mac=None)
    first = store.devices.list(limit=4)
    second = store.devices.list(limit=4, cursor=first.next_cursor)
    assert [d.id for d in first.items + second.items] == [f"dev-{n}" for n in range(7)]
    assert second.next_cursor is None


@pytest.mark.parametrize(("obs", "error"), [
    (DeviceObservation(id="", seen_at=T0), "id: must not be empty"),
    (DeviceObservation(id="x" * 129, seen_at=T0), "id: longer than 128"),
    (DeviceObservation(id="a", seen_at=datetime(2026, 1, 1)), "seen_at: naive"),
    (DeviceObservation(id="a", seen_at=T0, mac="02:00:00:00:00"), "mac: not a MAC"),
    (DeviceObservation(id="a", seen_at=T0, ips=("10.0.0.256",)), "ips: not an IP"),
    (DeviceObservation(id="a\nb", seen_at=T0), "control characters"),
])
def test_bad_observation(store: Store, obs: DeviceObservation, error: str) -> None:
    with pytest.raises(InvalidRecord, match=error):
        store.devices.upsert(obs)


def test_trust_verdicts(store: Store) -> None:
    _cam(store)
    assert store.devices.set_trust("cam-7", "trusted", by="olga").trust == "trusted"
    with pytest.raises(InvalidRecord, match=r"store\.quarantine"):
        store.devices.set_trust("cam-7", "quarantined", by="olga")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        store.devices.set_trust("nope", "trusted", by="olga")


def test_quarantine_expires_on_time(store: Store) -> None:
    _cam(store)
    q = store.quarantine("cam-7", "port scan", by="olga", since=T0, until=T0 + timedelta(hours=1))
    assert (q.device_id, q.reason, q.by) == ("cam-7", "port scan", "olga")
    assert [a.device_id for a in store.active_quarantines(T0)] == ["cam-7"]
    assert [a.device_id for a in store.active_quarantines(T0 + timedelta(minutes=59))] == [
        "cam-7"]
    assert store.active_quarantines(T0 + timedelta(hours=1)) == ()
    assert store.active_quarantines(T0 - timedelta(seconds=1)) == ()  # not started yet
    assert q.active_at(T0) and not q.active_at(T0 + timedelta(hours=1))


def test_active_quarantine_carries_addresses(store: Store) -> None:
    _cam(store, ips=("10.0.0.7", "fd00::7"))
    store.quarantine("cam-7", "beaconing", by="olga")
    (active,) = store.active_quarantines()
    assert (active.mac, active.ips, active.until) == ("02:00:00:00:00:07",
                                                      ("10.0.0.7", "fd00::7"), None)


def test_release_ends_every_active_quarantine(store: Store) -> None:
    _cam(store)
    store.quarantine("cam-7", "scan", by="olga")
    store.quarantine("cam-7", "bruteforce", by="sam")
    released = store.release("cam-7", by="olga")
    assert len(released) == 2
    assert all(r.released_by == "olga" and r.released_at is not None for r in released)
    assert store.active_quarantines() == ()
    with pytest.raises(NotFound, match="no active quarantine"):
        store.release("cam-7", by="olga")
    history = store.quarantines.history("cam-7")
    assert [h.reason for h in history] == ["scan", "bruteforce"]
    actions = [e.action for e in store.audit.list(target="device:cam-7").items]
    assert actions[:3] == ["device.release", "device.quarantine", "device.quarantine"]


@pytest.mark.parametrize(("kwargs", "error", "exc"), [
    ({"device": "ghost", "reason": "x", "by": "olga"}, "not in the inventory", NotFound),
    ({"device": "cam-7", "reason": "", "by": "olga"}, "reason", InvalidRecord),
    ({"device": "cam-7", "reason": "x", "by": ""}, "by", InvalidRecord),
    ({"device": "cam-7", "reason": "x", "by": "olga", "since": T0, "until": T0},
     "is not after since", InvalidRecord),
    ({"device": "cam-7", "reason": "x", "by": "olga", "until": datetime(2027, 1, 1)},
     "naive", InvalidRecord),
])
def test_bad_quarantine(store: Store, kwargs: dict[str, object], error: str,
                        exc: type[Exception]) -> None:
    _cam(store)
    with pytest.raises(exc, match=error):
        store.quarantine(**kwargs)  # type: ignore[arg-type]
    assert store.quarantines.history("cam-7") == ()


def test_classes_lists_devices_that_have_one(store: Store) -> None:
    seen = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    store.devices.upsert(DeviceObservation(id="cam-7", seen_at=seen, device_class="camera"))
    store.devices.upsert(DeviceObservation(id="meter-1", seen_at=seen))
    store.devices.upsert(DeviceObservation(id="pole-2", seen_at=seen,
                                           device_class="smart-pole"))
    assert store.devices.classes() == {"cam-7": "camera", "pole-2": "smart-pole"}
