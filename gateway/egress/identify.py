"""Which terminal is behind a request: its client certificate, else its source IP.

A terminal that presents a client certificate (mTLS to the proxy on intercepted HTTPS) is
identified by it, verified by pki/ through `gateway.identity.mtls`; a certificate that does
not verify is an error the proxy refuses, never a fall-back to the source IP. Otherwise
the monitor's inventory file maps the source IP to a device record (id = MAC). The
quarantine list (the monitor's file) and the inventory's trust state can each quarantine.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from gateway.egress.errors import EgressUnavailable
from gateway.identity.errors import InvalidCredentials
from gateway.identity.mtls import CertificateAuthenticator
from gateway.identity.types import PeerCertificate
from gateway.ingress.core import DeviceTrust
from gateway.ingress.devices import DeviceTrustSource, NoQuarantine
from gateway.ingress.errors import DeviceTrustUnavailable
from monitor.errors import MonitorError
from monitor.inventory import DeviceRecord, Inventory

IdentifiedBy = Literal["certificate", "inventory", "none"]


@dataclass(frozen=True, slots=True)
class Terminal:
    """The terminal behind one request, as far as it could be established."""

    source_ip: str
    identified_by: IdentifiedBy = "none"
    device_id: str = ""
    spiffe_id: str = ""
    kind: Literal["device", "svc", ""] = ""
    fingerprint: str = ""
    mac: str | None = None
    trust: DeviceTrust = "unknown"
    quarantine_reason: str = ""
    certificate_error: str = ""  # the PKI's code when a presented certificate was refused


class InventoryIndex:
    """The monitor's inventory file, re-read when it changes; IP -> device record.

    A file that cannot be read or parsed makes every lookup raise `EgressUnavailable`:
    a quarantined terminal must not pass on a stale or empty view.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._inventory = Inventory(())
        self._error: str | None = None

    def _refresh(self) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._inventory, self._error = (0, 0, 0), Inventory(()), None
            return
        except OSError as exc:
            self._error = f"{self.path}: cannot stat: {exc.strerror}"
            return
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self._stamp and self._error is None:
            return
        with self._lock:
            fresh = Inventory(())
            try:
                fresh.load(self.path)
            except MonitorError as exc:
                self._error = str(exc)
                return
            self._stamp, self._inventory, self._error = stamp, fresh, None

    def lookup(self, ip: str) -> DeviceRecord | None:
        """The device last seen at `ip`, or None; raises while the file is unusable."""
        self._refresh()
        if self._error is not None:
            raise EgressUnavailable(f"device inventory unavailable: {self._error}")
        return self._inventory.device_for(None, ip)


class TerminalIdentifier:
    """Certificate first, then the inventory; the quarantine list applies to both."""

    def __init__(self, *, certificates: CertificateAuthenticator | None = None,
                 inventory: InventoryIndex | None = None,
                 quarantine: DeviceTrustSource | None = None) -> None:
        self.certificates = certificates
        self.inventory = inventory
        self.quarantine = quarantine or NoQuarantine()

    def identify(self, source_ip: str, chain_der: Sequence[bytes], now: datetime) -> Terminal:
        """The terminal at `source_ip` that presented `chain_der` (leaf first, may be empty).

        Raises `EgressUnavailable` when the inventory or quarantine list cannot be read.
        """
        peer: PeerCertificate | None = None
        if chain_der:
            if self.certificates is None:
                return Terminal(source_ip, certificate_error="client-certificates-not-accepted")
            try:
                peer, _ = self.certificates.from_tls(chain_der[0], chain_der[1:])
            except InvalidCredentials as exc:
                return Terminal(source_ip, certificate_error=exc.code)
        try:
            facts = self.quarantine.lookup(peer, source_ip, now)
        except DeviceTrustUnavailable as exc:
            raise EgressUnavailable(f"quarantine list unavailable: {exc}") from None
        if peer is not None:
            return Terminal(
                source_ip, "certificate", device_id=peer.name, spiffe_id=peer.spiffe_id,
                kind=peer.kind, fingerprint=peer.fingerprint,
                trust="quarantined" if facts.trust == "quarantined" else "trusted",
                quarantine_reason=facts.quarantine_reason)
        record = self.inventory.lookup(source_ip) if self.inventory is not None else None
        if record is None:
            return Terminal(source_ip, trust=facts.trust,
                            quarantine_reason=facts.quarantine_reason)
        trust: DeviceTrust = "unknown"
        reason = facts.quarantine_reason
        if facts.trust == "quarantined" or record.trust == "quarantined":
            trust = "quarantined"
            reason = reason or record.quarantine_reason or "inventory"
        elif record.trust == "trusted":
            trust = "trusted"
        return Terminal(source_ip, "inventory", device_id=record.device_id, kind="device",
                        mac=record.mac, trust=trust, quarantine_reason=reason)
