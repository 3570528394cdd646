"""The quarantine response: a severe incident quarantines the host responsible, and only it.

Who is named (the file entry's `device_id`, `mac`, `ips`):

- `arp_spoof`: the claimant's MAC (its device), never the claimed IP; its own recent
  addresses only when it is a terminal (a spoofer relaying its victims' traffic is a router
  by then, and those addresses are theirs).
- a terminal (a MAC that is not a router): its device, with the local addresses it sent
  from within `routers.window_seconds` (not every address it ever had).
- a routed host (the detector saw a router's MAC, see monitor.inventory): the source IP
  alone, as device ``ip:<IP>`` with no MAC.

Never quarantined: a device whose trust is `trusted` (`trusted_devices`), a `gateway_ips`
address (left out of any entry; an incident whose responsible host is one is spared), a
router's MAC (except as an ARP claimant: a spoofer relaying its victims' traffic looks like
a router). Spared incidents are counted in `spared`, not silently dropped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from monitor.alerts import Detection, Incident
from monitor.config import MonitorConfig
from monitor.inventory import DeviceRecord, Inventory
from monitor.quarantine import QuarantineEntry, QuarantineFile


@dataclass(frozen=True, slots=True)
class QuarantineTarget:
    """What one quarantine entry names."""

    device_id: str
    mac: str | None
    ips: tuple[str, ...]
    record: DeviceRecord | None


class QuarantineResponse:
    """Called when an incident opens; writes a quarantine entry if the policy says so."""

    def __init__(self, config: MonitorConfig, inventory: Inventory,
                 quarantine: QuarantineFile | None,
                 clock: Callable[[], dt.datetime]) -> None:
        self.policy = config.response.quarantine
        self.inventory = inventory
        self.quarantine = quarantine
        self.gateways = frozenset(config.gateway_ips)
        self._clock = clock
        self.quarantined: list[str] = []
        self.spared: dict[str, int] = {}  # why a severe incident quarantined nothing

    def __call__(self, incident: Incident) -> None:
        policy = self.policy
        if self.quarantine is None or not policy.enabled:
            return
        det = incident.first
        if incident.severity < policy.min_severity or (policy.rules
                                                       and det.rule_id not in policy.rules):
            return
        target, why = self.target(det)
        if target is None:
            self.spared[why] = self.spared.get(why, 0) + 1
            return
        now = self._clock()
        until = now + dt.timedelta(seconds=policy.duration_seconds) \
            if policy.duration_seconds else None
        self.quarantine.add(QuarantineEntry(
            device_id=target.device_id, mac=target.mac, ips=target.ips, reason=det.rule_id,
            rule_id=det.rule_id, since=now, until=until,
        ))
        if target.record is not None:
            target.record.trust = "quarantined"
            target.record.quarantine_reason = det.rule_id
        self.quarantined.append(target.device_id)

    def target(self, det: Detection) -> tuple[QuarantineTarget | None, str]:
        """The host a detection makes responsible, or None and the reason it is spared."""
        inv = self.inventory
        mac = det.src_mac
        if mac is not None:
            rec = inv.devices.get(mac)
            if (rec is not None and rec.trust == "trusted") or mac in inv.trusted:
                return None, "trusted"
            if det.rule_id == "arp_spoof":
                # source.ip is the address claimed: the victim's, never the spoofer's
                ips = () if rec is None or rec.router else tuple(
                    ip for ip in inv.recent_ips(rec, det.ts)
                    if ip != det.src_ip and ip not in self.gateways)
                return QuarantineTarget(rec.device_id if rec else mac, mac, ips, rec), ""
            if rec is None or not rec.router:
                return self._terminal(det, mac, rec), ""
        return self._address(det)

    def _terminal(self, det: Detection, mac: str,
                  rec: DeviceRecord | None) -> QuarantineTarget:
        inv = self.inventory
        ips = [] if rec is None else [ip for ip in inv.recent_ips(rec, det.ts)
                                      if ip not in self.gateways]
        if not ips and det.src_ip is not None and det.src_ip not in self.gateways \
                and inv.is_local(det.src_ip):
            ips = [det.src_ip]
        return QuarantineTarget(rec.device_id if rec else mac, mac, tuple(ips), rec)

    def _address(self, det: Detection) -> tuple[QuarantineTarget | None, str]:
        ip = det.src_ip
        if ip is None:
            return None, "no-source"
        if ip in self.gateways:
            return None, "gateway-ip"
        device_id = det.device_id if det.device_id is not None else "ip:" + ip
        rec = self.inventory.devices.get(device_id)
        if rec is not None and rec.router:
            rec, device_id = None, "ip:" + ip
        if rec is not None and rec.trust == "trusted":
            return None, "trusted"
        return QuarantineTarget(device_id, rec.mac if rec else None, (ip,), rec), ""
