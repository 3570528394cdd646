"""Layer-2 attacks: ARP spoofing and rogue DHCP servers.

arp_spoof: an ARP reply or gratuitous ARP binds an IP to a MAC other than the one bound in
the last `rebind_seconds`; a gateway IP (config `gateway_ips`) claimed by a new MAC is always
reported, at `gateway_severity`. `source.ip` is the claimed IP, `source.mac` the claimant.

rogue_dhcp: a DHCP OFFER or ACK from a server not in `allowed_servers`. Servers seen in the
learning window are learned as allowed; with neither list nor learning, the first server
seen is presumed legitimate and any other one is reported.
"""

from __future__ import annotations

from monitor.detectors.base import DetectorContext
from monitor.model import Packet
from monitor.protocols.dhcp import ACK, OFFER, DhcpMessage

_TABLE_LIMIT = 1 << 17


class ArpSpoof:
    def __init__(self, ctx: DetectorContext) -> None:
        self.ctx = ctx
        self.cfg = ctx.config.detectors.arp_spoof
        self.gateways = frozenset(ctx.config.gateway_ips)
        self._bindings: dict[str, tuple[str, float]] = {}

    def on_arp(self, pkt: Packet) -> None:
        arp = pkt.arp
        if arp is None or arp.sender_ip == "0.0.0.0":  # noqa: S104 - ARP probe, not a bind
            return
        if arp.op not in (1, 2):  # requests and replies both bind the sender's IP
            return
        ip, mac = arp.sender_ip, arp.sender_mac
        old = self._bindings.get(ip)
        if len(self._bindings) >= _TABLE_LIMIT:
            self._bindings.clear()
        self._bindings[ip] = (mac, pkt.ts)
        if old is None or old[0] == mac:
            return
        is_gateway = ip in self.gateways
        if not is_gateway and pkt.ts - old[1] > self.cfg.rebind_seconds:
            return
        severity = self.cfg.gateway_severity if is_gateway else self.cfg.severity
        what = "the gateway's IP " if is_gateway else ""
        self.ctx.detect(
            "arp_spoof", pkt, (ip, mac), severity,
            f"{mac} claims {what}{ip}, bound to {old[0]} "
            f"{pkt.ts - old[1]:.0f}s before",
            {"claimed_ip": ip, "previous_mac": old[0], "new_mac": mac, "gateway": is_gateway,
             "arp_op": arp.op},
            src_ip=ip, src_mac=mac,
        )


class RogueDhcp:
    def __init__(self, ctx: DetectorContext) -> None:
        self.ctx = ctx
        self.cfg = ctx.config.detectors.rogue_dhcp
        self.allowed = set(self.cfg.allowed_servers)

    def on_dhcp(self, pkt: Packet, msg: DhcpMessage) -> None:
        if msg.op != 2 or msg.msg_type not in (OFFER, ACK):
            return
        server = msg.server_id or pkt.src_ip
        if server is None or server in self.allowed:
            return
        if self.ctx.learning(pkt.ts) or (not self.allowed and self.ctx.learn_until is None):
            self.allowed.add(server)
            return
        self.ctx.detect(
            "rogue_dhcp", pkt, (server,), self.cfg.severity,
            f"DHCP server {server} ({pkt.src_mac}) is not on the allow list",
            {"server": server, "offered_ip": msg.your_ip, "client_mac": msg.client_mac,
             "allowed": sorted(self.allowed)},
            src_ip=server,
        )
