"""Device trust: is the device behind a request quarantined?

`DeviceTrustSource` is the port with two adapters:

- `QuarantineFileSource` reads the monitor's quarantine file
  (`monitor.quarantine.load_quarantine`), re-read when it changes; a file that cannot be
  read or parsed makes every lookup fail (the gateway answers 503) rather than letting a
  quarantined device through on stale data.
- `StoreDeviceSource` reads the store's quarantines (written by officers through the
  control plane and by the monitor) through `StoreTrustSource`, a snapshot refreshed in
  the background, so replicas sharing PostgreSQL agree within one refresh interval. When
  the store cannot be read the last snapshot stays in force and /readyz says since when;
  before the first snapshot every lookup fails (503).
"""

from __future__ import annotations

import ipaddress
import threading
from datetime import datetime
from pathlib import Path
from typing import Protocol

from gateway.identity.types import PeerCertificate
from gateway.ingress.core import DeviceFacts, DeviceTrust
from gateway.ingress.errors import DeviceTrustUnavailable
from gateway.pdp.port import JSONObject
from gateway.store.errors import InvalidRecord, TrustUnavailable
from gateway.store.trust import StoreTrustSource
from monitor.errors import MonitorError
from monitor.quarantine import QuarantineList, load_quarantine


class DeviceTrustSource(Protocol):
    """Port: the trust state of the device behind one request."""

    def lookup(self, certificate: PeerCertificate | None, source_ip: str,
               now: datetime) -> DeviceFacts:
        """Return the device facts; raise DeviceTrustUnavailable when unknown-able."""
        ...


def device_facts(certificate: PeerCertificate | None, source_ip: str, now: datetime,
                 quarantine: QuarantineList) -> DeviceFacts:
    """Match a request against quarantine entries by device id, SPIFFE ID or source IP."""
    device_id = ""
    fingerprint = ""
    names: set[str] = set()
    if certificate is not None:
        fingerprint = certificate.fingerprint
        if certificate.kind == "device":
            device_id = certificate.name
            names = {certificate.name, certificate.spiffe_id}
    try:
        ip = str(ipaddress.ip_address(source_ip))
    except ValueError:
        ip = source_ip
    entry = quarantine.is_quarantined(ip=ip, now=now)
    for name in names:
        entry = entry or quarantine.is_quarantined(device_id=name, now=now)
    if entry is not None:
        return DeviceFacts(id=device_id or entry.device_id, cert_fingerprint=fingerprint,
                           trust="quarantined", quarantine_reason=entry.rule_id)
    trust: DeviceTrust = "trusted" if device_id else "unknown"
    return DeviceFacts(id=device_id, cert_fingerprint=fingerprint, trust=trust)


class NoQuarantine:
    """A source with no quarantine list: devices are trusted by certificate alone."""

    def lookup(self, certificate: PeerCertificate | None, source_ip: str,
               now: datetime) -> DeviceFacts:
        """Device facts with nothing quarantined."""
        return device_facts(certificate, source_ip, now, QuarantineList())


class QuarantineFileSource:
    """The monitor's quarantine file, re-read when its mtime or size changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._list = QuarantineList()
        self._error: str | None = None
        self.reloads = 0
        self.refresh()

    def refresh(self) -> bool:
        """Re-read the file if it changed; True when it was (re)loaded."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            # no file yet: the monitor has quarantined nothing
            changed = self._stamp != (0, 0, 0) or self._error is not None
            self._stamp, self._list, self._error = (0, 0, 0), QuarantineList(), None
            return changed
        except OSError as exc:
            self._error = f"{self.path}: cannot stat: {exc.strerror}"
            return False
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self._stamp and self._error is None:
            return False
        with self._lock:
            try:
                loaded = load_quarantine(self.path)
            except MonitorError as exc:
                self._error = str(exc)
                return False
            self._stamp, self._list, self._error = stamp, loaded, None
            self.reloads += 1
        return True

    def lookup(self, certificate: PeerCertificate | None, source_ip: str,
               now: datetime) -> DeviceFacts:
        """Device facts from the current file; raises while the file is unusable."""
        self.refresh()
        if self._error is not None:
            raise DeviceTrustUnavailable(self._error)
        return device_facts(certificate, source_ip, now, self._list)


class StoreDeviceSource:
    """Quarantines from the store, through a background-refreshed `StoreTrustSource`."""

    def __init__(self, trust: StoreTrustSource) -> None:
        self.trust = trust

    def lookup(self, certificate: PeerCertificate | None, source_ip: str,
               now: datetime) -> DeviceFacts:
        """Device facts from the snapshot in force; raises before the first snapshot."""
        device_id = None
        fingerprint = ""
        if certificate is not None:
            fingerprint = certificate.fingerprint
            if certificate.kind == "device":
                device_id = certificate.name
        try:
            ip: str | None = str(ipaddress.ip_address(source_ip))
        except ValueError:
            ip = None  # a unix socket or test transport: nothing to match by address
        try:
            verdict = self.trust.verdict(device_id, ip, None, now)
        except TrustUnavailable as exc:
            raise DeviceTrustUnavailable(str(exc)) from None
        except InvalidRecord as exc:  # an identifier the store refuses: fail closed
            raise DeviceTrustUnavailable(str(exc)) from None
        posture: JSONObject | None = (None if verdict.device_class is None
                                      else {"class": verdict.device_class})
        return DeviceFacts(id=device_id or verdict.device_id or "", cert_fingerprint=fingerprint,
                           trust=verdict.trust, posture=posture,
                           quarantine_reason=verdict.reason)

    def status(self) -> dict[str, object]:
        """The snapshot's facts for /readyz."""
        return self.trust.status()
