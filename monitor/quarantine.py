"""The quarantine list the gateway reads (the control plane does not exist yet).

File format (written atomically: temp + fsync + rename)::

    {"version": 1,
     "devices": [{"device_id": "aa:bb:cc:dd:ee:ff", "mac": "aa:bb:cc:dd:ee:ff",
                  "ips": ["10.0.0.13"], "reason": "telnet_bruteforce",
                  "rule_id": "telnet_bruteforce", "since": "RFC3339",
                  "until": "RFC3339 or null", "source": "monitor"}]}

`load_quarantine(path)` reads it; `QuarantineList.is_quarantined(...)` ignores expired
entries. A malformed file raises MonitorError (QuarantineError): the gateway must fail
closed on it rather than treat it as empty.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace
from pathlib import Path

from monitor.errors import QuarantineError
from monitor.inventory import write_atomically

FORMAT_VERSION = 1
_FIELDS = {"device_id", "mac", "ips", "reason", "rule_id", "since", "until", "source"}


def _parse_time(value: object, where: str) -> dt.datetime:
    if not isinstance(value, str):
        raise QuarantineError(f"{where}: must be an RFC 3339 string")
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise QuarantineError(f"{where}: not an RFC 3339 time: {value!r}") from None
    if when.tzinfo is None:
        raise QuarantineError(f"{where}: RFC 3339 time needs a UTC offset: {value!r}")
    return when


def _format_time(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """One quarantined device."""

    device_id: str
    mac: str | None
    ips: tuple[str, ...]
    reason: str
    rule_id: str
    since: dt.datetime
    until: dt.datetime | None
    source: str = "monitor"

    def active(self, now: dt.datetime) -> bool:
        """True unless the entry has expired at `now`."""
        return self.until is None or now < self.until

    def to_json(self) -> dict[str, object]:
        return {"device_id": self.device_id, "mac": self.mac, "ips": list(self.ips),
                "reason": self.reason, "rule_id": self.rule_id,
                "since": _format_time(self.since),
                "until": None if self.until is None else _format_time(self.until),
                "source": self.source}


@dataclass(frozen=True, slots=True)
class QuarantineList:
    """An immutable quarantine list as read from the file."""

    entries: tuple[QuarantineEntry, ...] = ()

    def is_quarantined(self, device_id: str | None = None, ip: str | None = None,
                       mac: str | None = None,
                       now: dt.datetime | None = None) -> QuarantineEntry | None:
        """The active entry matching any of device id, IP or MAC, else None."""
        when = now or dt.datetime.now(dt.UTC)
        mac_l = mac.lower() if mac else None
        for entry in self.entries:
            if not entry.active(when):
                continue
            if (device_id is not None and entry.device_id == device_id) \
                    or (mac_l is not None and entry.mac == mac_l) \
                    or (ip is not None and ip in entry.ips):
                return entry
        return None


def _entry(raw: object, where: str) -> QuarantineEntry:
    if not isinstance(raw, dict):
        raise QuarantineError(f"{where}: must be an object")
    unknown = set(raw) - _FIELDS
    if unknown:
        raise QuarantineError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    for key in ("device_id", "reason", "rule_id", "source"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise QuarantineError(f"{where}.{key}: must be a non-empty string")
    mac = raw.get("mac")
    if mac is not None and not isinstance(mac, str):
        raise QuarantineError(f"{where}.mac: must be a string or null")
    ips = raw.get("ips", [])
    if not isinstance(ips, list) or not all(isinstance(i, str) for i in ips):
        raise QuarantineError(f"{where}.ips: must be a list of strings")
    until_raw = raw.get("until")
    return QuarantineEntry(
        device_id=raw["device_id"], mac=mac.lower() if mac else None, ips=tuple(ips),
        reason=raw["reason"], rule_id=raw["rule_id"],
        since=_parse_time(raw.get("since"), f"{where}.since"),
        until=None if until_raw is None else _parse_time(until_raw, f"{where}.until"),
        source=raw["source"],
    )


def load_quarantine(path: Path) -> QuarantineList:
    """Read the quarantine file; raises QuarantineError (a MonitorError) if malformed."""
    try:
        raw = json.loads(path.read_bytes())
    except OSError as exc:
        raise QuarantineError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise QuarantineError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise QuarantineError(f"{path}: top level must be an object")
    if raw.get("version") != FORMAT_VERSION:
        raise QuarantineError(f"{path}: version must be {FORMAT_VERSION}")
    devices = raw.get("devices")
    if not isinstance(devices, list):
        raise QuarantineError(f"{path}: devices must be a list")
    return QuarantineList(tuple(_entry(d, f"{path}: devices[{i}]") for i, d in enumerate(devices)))


class QuarantineFile:
    """The monitor's writer: merges new entries into the file and rewrites it atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[str, QuarantineEntry] = {}
        if path.exists():
            for entry in load_quarantine(path).entries:
                self._entries[entry.device_id] = entry

    def add(self, entry: QuarantineEntry) -> None:
        """Quarantine a device (extending an existing entry) and rewrite the file."""
        old = self._entries.get(entry.device_id)
        if old is not None and old.active(entry.since):
            until = None if old.until is None or entry.until is None \
                else max(old.until, entry.until)
            entry = replace(old, ips=tuple(sorted(set(old.ips) | set(entry.ips))), until=until)
        self._entries[entry.device_id] = entry
        self.write()

    def write(self) -> None:
        doc = {"version": FORMAT_VERSION,
               "devices": [e.to_json() for e in self._entries.values()]}
        write_atomically(self.path, json.dumps(doc, indent=1).encode("utf-8"), QuarantineError)

    def entries(self) -> tuple[QuarantineEntry, ...]:
        return tuple(self._entries.values())
