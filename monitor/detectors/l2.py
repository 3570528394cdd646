"""Layer-2 attacks: ARP spoofing and rogue DHCP servers.

arp_spoof: an ARP request, reply or gratuitous ARP from a MAC that contradicts the IP's
established binding. The established owner is the configured one (`known_bindings`), else
the first MAC seen claiming the IP. The owner re-announcing itself is never a spoof, even
right after a spoofer's claim, and the binding stays with it however often the spoofer
claims. A claim moves the binding without an alert when it comes from a `trusted_devices`
MAC (not for a configured binding), or when the owner has not confirmed it for
`rebind_seconds` (an address reassigned; never for a `gateway_ips` address, whose claims are
reported at `gateway_severity`). `source.ip` is the claimed IP, `source.mac` the claimant.

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
        self.trusted = frozenset(ctx.config.trusted_devices)
        self.configured = dict(self.cfg.known_bindings)
        self._owners: dict[str, tuple[str, float]] = {}  # IP -> (owner MAC, last confirmed)

    def on_arp(self, pkt: Packet) -> None:
        arp = pkt.arp
        if arp is None or arp.sender_ip == "0.0.0.0":  # noqa: S104 - ARP probe, not a bind
            return
        if arp.op not in (1, 2):  # requests and replies both bind the sender's IP
            return
        ip, mac = arp.sender_ip, arp.sender_mac
        is_gateway = ip in self.gateways
        owner = self.configured.get(ip)
        last: float | None = None
        if owner is None:
            known = self._owners.get(ip)
            if known is None or known[0] == mac or mac in self.trusted or (
                    not is_gateway and pkt.ts - known[1] > self.cfg.rebind_seconds):
                if known is None and len(self._owners) >= _TABLE_LIMIT:
                    self._owners.clear()
                self._owners[ip] = (mac, pkt.ts)
                return
            owner, last = known
        elif owner == mac:
            return
        severity = self.cfg.gateway_severity if is_gateway else self.cfg.severity
        what = "the gateway's IP " if is_gateway else ""
        since = "by configuration" if last is None \
            else f"confirmed {pkt.ts - last:.0f}s before"
        self.ctx.detect(
            "arp_spoof", pkt, (ip, mac), severity,
            f"{mac} claims {what}{ip}, which is bound to {owner} ({since})",
            {"claimed_ip": ip, "previous_mac": owner, "new_mac": mac, "gateway": is_gateway,
             "binding": "learned" if last is not None else "configured", "arp_op": arp.op},
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
