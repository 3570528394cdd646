"""What every detector shares: the context it reads and the hooks the engine calls.

Detectors are small observer classes in the style of mitmproxy addons: each defines only the
hooks it needs, and the engine dispatches to a hook only the detectors that define it.

    on_tcp_flags(pkt)        every TCP segment with SYN or RST set
    on_unreachable(probe)    an ICMPv4 destination unreachable, as the probe it quotes
    on_connection(pkt, key)  a connection start (TCP SYN, or a new UDP flow); key is the
                             destination as the baseline knows it ("name-or-ip:port/proto")
    on_tcp_payload(pkt)      TCP payload on a port the detector asked for (`tcp_ports`)
    on_dns(pkt, msg)  on_dhcp(pkt, msg)  on_arp(pkt)
    on_mqtt(pkt, msgs)  on_coap(pkt, msg)  on_modbus(pkt, pdus)
    on_tick(now)             about once a second of capture time
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from monitor.alerts import Detection, Evidence
from monitor.community_id import community_id_raw
from monitor.config import MonitorConfig
from monitor.inventory import Inventory
from monitor.model import Packet

_RESOLVED_LIMIT = 1 << 17


@dataclass
class DetectorContext:
    """Shared state: configuration, inventory, the learning window and DNS resolutions."""

    config: MonitorConfig
    inventory: Inventory
    emit: Callable[[Detection], None]
    learn_until: float | None = None
    resolved: dict[str, str] = field(default_factory=dict)

    def learning(self, ts: float) -> bool:
        """True while `ts` is inside the learning window (baseline detectors stay silent)."""
        return self.learn_until is not None and ts < self.learn_until

    def remember_resolution(self, ip: str, name: str) -> None:
        if len(self.resolved) >= _RESOLVED_LIMIT:
            self.resolved.clear()
        self.resolved[ip] = name

    def detect(self, rule_id: str, pkt: Packet, key: tuple[str | int | None, ...],
               severity: int, message: str, evidence: Evidence | None = None, *,
               reverse: bool = False, src_ip: str | None = None, src_mac: str | None = None,
               dst_port: int | None = None) -> None:
        """Build a Detection from a packet (swapping ends when `reverse`) and emit it.

        The source is the host responsible. When the MAC comes from the frame and belongs to
        a router, that host is the source IP, not the router: `source.mac` is left out, the
        device is ``ip:<source IP>`` and the router's MAC goes to evidence `forwarded_by`.
        An explicit `src_mac` (the ARP claimant) is always the source.
        """
        frame_mac = src_mac is None
        if reverse:
            s_ip, s_mac, d_ip, d_port = pkt.dst_ip, pkt.dst_mac, pkt.src_ip, pkt.sport
        else:
            s_ip, s_mac, d_ip, d_port = pkt.src_ip, pkt.src_mac, pkt.dst_ip, pkt.dport
        if src_ip is not None:
            s_ip = src_ip
        if src_mac is not None:
            s_mac = src_mac
        if dst_port is not None:
            d_port = dst_port
        cid = None
        if pkt.src_ip_raw and pkt.dst_ip_raw and pkt.proto:
            cid = community_id_raw(pkt.src_ip_raw, pkt.dst_ip_raw, pkt.proto, pkt.sport,
                                   pkt.dport)
        evidence = evidence or {}
        inventory = self.inventory
        device_id: str | None
        if s_mac is not None:
            rec = inventory.devices.get(s_mac)
            if frame_mac and s_ip is not None and rec is not None and rec.router:
                evidence = {**evidence, "forwarded_by": s_mac}
                s_mac, device_id = None, "ip:" + s_ip
            else:
                device_id = rec.device_id if rec is not None else s_mac
        else:
            rec = inventory.device_for(None, s_ip)
            device_id = rec.device_id if rec is not None and not rec.router else None
        self.emit(Detection(
            rule_id=rule_id, ts=pkt.ts, key=key, severity=severity, message=message,
            src_ip=s_ip, src_mac=s_mac, dst_ip=d_ip,
            dst_port=d_port if pkt.proto in (6, 17) else None, transport=pkt.proto,
            community_id=cid, device_id=device_id, evidence=evidence,
        ))
