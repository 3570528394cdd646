"""Device trust for the gateway: a snapshot of quarantines, refreshed in the background.

Every gateway process keeps its own immutable `TrustSnapshot` and swaps one reference
when a refresh succeeds, so two processes sharing PostgreSQL see each other's quarantines
within one refresh interval. When the store cannot be read the last snapshot stays in
force (quarantines keep being enforced, and expire on time) and `stale_since` says since
when; /readyz reports it. Before the first successful load, `trust_of` raises
`TrustUnavailable`: the gateway fails closed rather than guessing.

Only a device id (proven by a client certificate) can make a device `trusted`; an IP or
MAC address is easy to claim, so it can only make a device `quarantined`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from gateway.store import _validate
from gateway.store._db import utc_now
from gateway.store.errors import InvalidRecord, StoreError, TrustUnavailable
from gateway.store.port import DeviceStore, QuarantineStore
from gateway.store.types import DeviceRecord, QuarantinedDevice, Trust

log = logging.getLogger(__name__)
_NEVER = None  # an `until` of None: the quarantine lasts until released


@dataclass(frozen=True, slots=True)
class TrustVerdict:
    """The trust of one request's device, with the quarantine behind it if any."""

    trust: Trust
    device_id: str | None = None  # the quarantined device an IP/MAC matched, else as given
    reason: str = ""  # the quarantine's reason
    device_class: str | None = None  # the inventory's class of the device id given


@dataclass(frozen=True, slots=True)
class TrustSnapshot:
    """Active quarantines and trusted devices at `taken_at`, indexed for lookup."""

    taken_at: datetime
    quarantined_ids: Mapping[str, tuple[tuple[datetime | None, str], ...]]  # id -> (until, why)
    quarantined_ips: Mapping[str, tuple[str, ...]]  # IP -> quarantined device ids
    quarantined_macs: Mapping[str, tuple[str, ...]]  # MAC -> quarantined device ids
    trusted_ids: frozenset[str]
    classes: Mapping[str, str] = field(default_factory=dict)  # device id -> device class

    @classmethod
    def build(cls, taken_at: datetime, quarantined: tuple[QuarantinedDevice, ...],
              trusted: tuple[DeviceRecord, ...],
              classes: Mapping[str, str] | None = None) -> TrustSnapshot:
        """Index what the store returned."""
        untils: dict[str, list[tuple[datetime | None, str]]] = {}
        by_ip: dict[str, set[str]] = {}
        by_mac: dict[str, set[str]] = {}
        for q in quarantined:
            untils.setdefault(q.device_id, []).append((q.until, q.reason))
            for ip in q.ips:
                by_ip.setdefault(ip, set()).add(q.device_id)
            if q.mac is not None:
                by_mac.setdefault(q.mac, set()).add(q.device_id)
        return cls(
            taken_at=taken_at,
            quarantined_ids={k: tuple(v) for k, v in untils.items()},
            quarantined_ips={k: tuple(sorted(v)) for k, v in by_ip.items()},
            quarantined_macs={k: tuple(sorted(v)) for k, v in by_mac.items()},
            trusted_ids=frozenset(d.id for d in trusted),
            classes=dict(classes or {}),
        )

    def _quarantine_reason(self, device_id: str, now: datetime) -> str | None:
        for until, reason in self.quarantined_ids.get(device_id, ()):
            if until is _NEVER or now < until:
                return reason
        return None

    def verdict(self, now: datetime, device_id: str | None, ip: str | None, mac: str | None,
                *, trust_any_device_id: bool = False) -> TrustVerdict:
        """The trust of whatever device these identifiers name, at `now`.

        Only a device id (proven by a certificate) carries the inventory's class: an IP or
        MAC is easy to claim and must not grant what a class grants.
        """
        suspects: list[str] = []
        if device_id is not None:
            suspects.append(device_id)
        if ip is not None:
            suspects.extend(self.quarantined_ips.get(ip, ()))
        if mac is not None:
            suspects.extend(self.quarantined_macs.get(mac, ()))
        for suspect in suspects:
            reason = self._quarantine_reason(suspect, now)
            if reason is not None:
                return TrustVerdict("quarantined", suspect, reason)
        device_class = None if device_id is None else self.classes.get(device_id)
        if device_id is not None and (trust_any_device_id or device_id in self.trusted_ids):
            return TrustVerdict("trusted", device_id, device_class=device_class)
        return TrustVerdict("unknown", device_id, device_class=device_class)

    def trust_of(self, now: datetime, device_id: str | None, ip: str | None,
                 mac: str | None) -> Trust:
        """Just the trust of `verdict`."""
        return self.verdict(now, device_id, ip, mac).trust


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise InvalidRecord(f"trust_of: ip: not an IP address: {value!r}") from None


class StoreTrustSource:
    """`DeviceTrustSource` over the store, refreshed every `interval` seconds."""

    def __init__(self, quarantines: QuarantineStore, *, interval: float = 5.0,
                 clock: Callable[[], datetime] = utc_now,
                 trust_any_device_id: bool = False,
                 devices: DeviceStore | None = None) -> None:
        """`trust_any_device_id`: a device id proved by a certificate is `trusted` even
        without an officer's verdict (what the ingress did before the store existed).
        `devices`: also snapshot the inventory's device classes (`device.posture.class`)."""
        if not interval > 0:
            raise InvalidRecord(f"interval: must be positive seconds, got {interval!r}")
        self._quarantines = quarantines
        self._interval = interval
        self._clock = clock
        self._trust_any_device_id = trust_any_device_id
        self._devices = devices
        self._snapshot: TrustSnapshot | None = None
        self._stale_since: datetime | None = None
        self._last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def interval(self) -> float:
        """Seconds between refreshes."""
        return self._interval

    @property
    def snapshot(self) -> TrustSnapshot | None:
        """The snapshot in force (None before the first successful load)."""
        return self._snapshot

    @property
    def stale_since(self) -> datetime | None:
        """When refreshing started failing; None while the snapshot is fresh.

        A background refresh that is stuck (no failure reported, no success either for
        three intervals) also makes the snapshot stale, since the time it was taken.
        """
        if self._stale_since is not None:
            return self._stale_since
        snap = self._snapshot
        if (self._task is not None and snap is not None
                and (self._clock() - snap.taken_at).total_seconds() > 3 * self._interval):
            return snap.taken_at
        return None

    @property
    def last_error(self) -> str | None:
        """Why the last refresh failed (None if it succeeded)."""
        return self._last_error

    def status(self) -> dict[str, object]:
        """Facts for a readiness endpoint."""
        snap = self._snapshot
        return {
            "loaded": snap is not None,
            "taken_at": None if snap is None else snap.taken_at.isoformat(),
            "quarantined_devices": 0 if snap is None else len(snap.quarantined_ids),
            "stale_since": None if self.stale_since is None else self.stale_since.isoformat(),
            "last_error": self._last_error,
        }

    def refresh(self) -> bool:
        """Load a new snapshot now (blocking); False, with `stale_since` set, on failure."""
        started = self._clock()
        try:
            quarantined, trusted = self._quarantines.snapshot(started)
            classes = None if self._devices is None else self._devices.classes()
        except StoreError as exc:
            self._failed(started, str(exc))
            log.warning("device trust refresh failed, enforcing the snapshot of %s: %s",
                        "never" if self._snapshot is None else self._snapshot.taken_at, exc)
            return False
        except Exception as exc:
            # not a store fault but a bug: recorded and logged with its traceback, and the
            # last snapshot stays in force exactly as for a store fault
            self._failed(started, f"{type(exc).__name__}: {exc}")
            log.exception("device trust refresh failed unexpectedly")
            return False
        self._snapshot = TrustSnapshot.build(started, quarantined, trusted, classes)
        self._stale_since = None
        self._last_error = None
        return True

    def _failed(self, when: datetime, error: str) -> None:
        if self._stale_since is None:
            self._stale_since = when
        self._last_error = error

    def trust_of(self, device_id: str | None = None, ip: str | None = None,
                 mac: str | None = None) -> Trust:
        """See `DeviceTrustSource.trust_of`."""
        return self.verdict(device_id, ip, mac).trust

    def verdict(self, device_id: str | None = None, ip: str | None = None,
                mac: str | None = None, now: datetime | None = None) -> TrustVerdict:
        """`trust_of` with the quarantined device and reason (for the policy input)."""
        snap = self._snapshot
        if snap is None:
            raise TrustUnavailable("device trust is not loaded yet"
                                   + (f": {self._last_error}" if self._last_error else ""))
        return snap.verdict(
            self._clock() if now is None else _validate.aware(now, "now"),
            device_id,
            None if ip is None else _ip(ip),
            None if mac is None else _validate.mac(mac, "trust_of: mac"),
            trust_any_device_id=self._trust_any_device_id,
        )

    async def start(self) -> None:
        """Load once (failure is reported, not raised) and refresh in the background."""
        if self._task is not None:
            return
        await asyncio.to_thread(self.refresh)
        self._task = asyncio.create_task(self._run(), name="zonegate-device-trust-refresh")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await asyncio.to_thread(self.refresh)

    async def close(self) -> None:
        """Stop refreshing; the last snapshot stays readable."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
