"""The pipeline: decoded packet -> inventory -> protocol parsers -> detectors -> incidents.

`Engine.process(pkt)` is the hot path; it routes each packet only to the parsers and detector
hooks that need it (see monitor.detectors.base for the hooks). Time is the packets' time: the
learning window starts at the first packet, and `tick` runs about once per captured second.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.alerts import Detection
from monitor.config import MonitorConfig
from monitor.decode import LINKTYPE_ETHERNET, decode, quoted_datagram
from monitor.detectors import DetectorContext, build_detectors
from monitor.incidents import AlertSink, IncidentBook
from monitor.inventory import DeviceRecord, Inventory
from monitor.model import ACK, RST, SYN, Packet
from monitor.protocols.coap import parse_coap
from monitor.protocols.dhcp import DhcpMessage, parse_dhcp
from monitor.protocols.discovery import ssdp_server
from monitor.protocols.dns import QTYPE_A, QTYPE_AAAA, DnsMessage, parse_dns
from monitor.protocols.modbus import parse_modbus
from monitor.protocols.mqtt import parse_mqtt
from monitor.quarantine import QuarantineFile
from monitor.response import QuarantineResponse

_UDP_FLOW_LIMIT = 1 << 18
_TRANSPORT = {6: "tcp", 17: "udp"}


@dataclass
class EngineStats:
    """Counters shown at the end of a run."""

    packets: int = 0
    bytes: int = 0
    truncated: int = 0
    non_ip: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    quarantined: list[str] = field(default_factory=list)  # the response's own list


class Engine:
    """Runs every enabled detector over a stream of packets."""

    def __init__(self, config: MonitorConfig, inventory: Inventory,
                 sinks: Sequence[AlertSink], *, quarantine: QuarantineFile | None = None,
                 learn_seconds: float | None = None,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.config = config
        self.inventory = inventory
        inventory.bucket_seconds = config.detectors.volume_spike.bucket_seconds
        inventory.configure_routers(config.gateway_ips, config.routers.macs,
                                    config.routers.min_source_ips,
                                    config.routers.window_seconds)
        self.learn_seconds = config.learn_seconds if learn_seconds is None else learn_seconds
        self.quarantine = quarantine
        self.response = QuarantineResponse(config, inventory, quarantine, clock)
        self.book = IncidentBook(sinks, config.incident_idle_seconds, on_open=self.response)
        self.ctx = DetectorContext(config, inventory, self._report)
        self.detectors = build_detectors(self.ctx)
        self.stats = EngineStats(quarantined=self.response.quarantined)
        self._next_tick = 0.0
        self._learning_closed = self.learn_seconds <= 0
        self._udp_flows: dict[tuple[str | None, int, str | None, int], float] = {}
        self._udp_idle = config.detectors.beaconing.udp_idle_seconds
        d = config.detectors
        self._mqtt_ports = frozenset({*d.mqtt_anonymous.ports, *d.mqtt_wildcard_subscribe.ports})
        self._hooks: dict[str, list[Callable[..., Any]]] = {}
        for name in ("on_tcp_flags", "on_unreachable", "on_connection", "on_dns", "on_dhcp",
                     "on_arp", "on_mqtt", "on_coap", "on_modbus", "on_tick"):
            self._hooks[name] = [getattr(det, name) for det in self.detectors
                                 if hasattr(det, name)]
        self._payload_hooks: list[tuple[frozenset[int], Callable[[Packet], None]]] = [
            (getattr(det, "tcp_ports"), getattr(det, "on_tcp_payload"))  # noqa: B009
            for det in self.detectors if hasattr(det, "on_tcp_payload")
        ]
        self._payload_ports = frozenset().union(*(p for p, _h in self._payload_hooks))

    # -- input ---------------------------------------------------------------------------

    def process_frame(self, frame: bytes, ts: float, linktype: int = LINKTYPE_ETHERNET,
                      wirelen: int | None = None) -> None:
        """Decode and process one captured frame."""
        self.process(decode(frame, ts, linktype, wirelen))

    def process(self, pkt: Packet) -> None:
        """Process one decoded packet."""
        stats = self.stats
        ts = pkt.ts
        if stats.first_ts is None:
            stats.first_ts = ts
            self._next_tick = ts + 1.0
            if self.learn_seconds > 0:
                self.ctx.learn_until = ts + self.learn_seconds
        elif ts >= self._next_tick:
            self.tick(ts)
        stats.packets += 1
        stats.bytes += pkt.length
        stats.last_ts = ts
        if pkt.truncated:
            stats.truncated += 1
        rec = self.inventory.observe(pkt)
        proto = pkt.proto
        if proto == 6:
            self._tcp(pkt, rec)
        elif proto == 17:
            self._udp(pkt, rec)
        elif proto == 1:
            if pkt.sport == 3 and pkt.dport in (1, 2, 3, 10, 13):  # unreachable: probe refused
                quoted = quoted_datagram(pkt)
                if quoted is not None:
                    for hook in self._hooks["on_unreachable"]:
                        hook(quoted)
        elif pkt.arp is not None:
            for hook in self._hooks["on_arp"]:
                hook(pkt)
        elif pkt.ip_version == 0:
            stats.non_ip += 1

    def tick(self, now: float) -> None:
        """Periodic work in capture time: timeouts, window ends, incident expiry."""
        self._next_tick = now + 1.0
        if not self._learning_closed and self.ctx.learn_until is not None \
                and now >= self.ctx.learn_until:
            self._learning_closed = True
            for rec in self.inventory.devices.values():
                rec.baselined = True
        for hook in self._hooks["on_tick"]:
            hook(now)
        self.book.expire(now)
        self.book.poll_sinks()
        if len(self._udp_flows) > _UDP_FLOW_LIMIT // 2:
            cutoff = now - self._udp_idle
            self._udp_flows = {k: t for k, t in self._udp_flows.items() if t >= cutoff}

    def finish(self) -> None:
        """End of input: time out pending state, close buckets and incidents."""
        if self.stats.last_ts is not None:
            self.tick(self.stats.last_ts + 3600.0)
        self.inventory.flush_buckets()
        self.book.close_all()

    # -- routing -------------------------------------------------------------------------

    def _tcp(self, pkt: Packet, rec: DeviceRecord | None) -> None:
        flags = pkt.tcp_flags
        if flags & (SYN | RST):
            for hook in self._hooks["on_tcp_flags"]:
                hook(pkt)
            if flags & SYN:
                if not flags & ACK:
                    self._connection(pkt, rec)
                elif rec is not None:
                    Inventory.add_bounded(rec.services, f"tcp/{pkt.sport}")
        payload = pkt.payload
        if not payload:
            return
        sport, dport = pkt.sport, pkt.dport
        if sport in self._mqtt_ports or dport in self._mqtt_ports:
            msgs = parse_mqtt(payload)
            if msgs:
                if rec is not None:
                    Inventory.add_bounded(rec.protocols, "mqtt")
                for hook in self._hooks["on_mqtt"]:
                    hook(pkt, msgs)
        elif dport == 502 or sport == 502:
            pdus = parse_modbus(payload)
            if pdus:
                if rec is not None:
                    Inventory.add_bounded(rec.protocols, "modbus")
                for hook in self._hooks["on_modbus"]:
                    hook(pkt, pdus)
        if dport in self._payload_ports or sport in self._payload_ports:
            for ports, hook in self._payload_hooks:
                if dport in ports or sport in ports:
                    hook(pkt)

    def _udp(self, pkt: Packet, rec: DeviceRecord | None) -> None:
        sport, dport = pkt.sport, pkt.dport
        flows = self._udp_flows
        key = (pkt.src_ip, sport, pkt.dst_ip, dport)
        last = flows.get(key)
        if last is None or pkt.ts - last > self._udp_idle:
            back = flows.get((pkt.dst_ip, dport, pkt.src_ip, sport))
            if back is None or pkt.ts - back > self._udp_idle:
                if len(flows) < _UDP_FLOW_LIMIT:
                    flows[key] = pkt.ts
                    self._connection(pkt, rec)
            else:
                flows[key] = pkt.ts
        else:
            flows[key] = pkt.ts
        payload = pkt.payload
        if not payload:
            return
        if sport == 53 or dport == 53 or sport == 5353 or dport == 5353:
            msg = parse_dns(payload)
            if msg is not None:
                self._dns_facts(pkt, rec, msg)
                for hook in self._hooks["on_dns"]:
                    hook(pkt, msg)
        elif sport in (67, 68) and dport in (67, 68):
            dhcp = parse_dhcp(payload)
            if dhcp is not None:
                self._dhcp_facts(dhcp)
                for hook in self._hooks["on_dhcp"]:
                    hook(pkt, dhcp)
        elif dport == 5683 or sport == 5683:
            coap = parse_coap(payload)
            if coap is not None:
                if rec is not None:
                    Inventory.add_bounded(rec.protocols, "coap")
                for hook in self._hooks["on_coap"]:
                    hook(pkt, coap)
        elif dport == 1900 or sport == 1900:
            server = ssdp_server(payload)
            if server is not None and rec is not None:
                Inventory.add_name(rec, "ssdp:" + server)
                Inventory.add_bounded(rec.protocols, "ssdp")

    def _connection(self, pkt: Packet, rec: DeviceRecord | None) -> None:
        dst = pkt.dst_ip
        raw = pkt.dst_ip_raw
        if dst is None or not raw:
            return
        if (raw[0] >= 224 if len(raw) == 4 else raw[0] == 0xFF):
            return  # multicast and broadcast (discovery chatter) are not connections
        name = self.ctx.resolved.get(dst, dst)
        key = f"{name}:{pkt.dport}/{_TRANSPORT.get(pkt.proto, pkt.proto)}"
        if rec is not None:
            self.inventory.add_peer(rec, dst)
            Inventory.add_bounded(rec.protocols, f"{_TRANSPORT.get(pkt.proto)}/{pkt.dport}")
        for hook in self._hooks["on_connection"]:
            hook(pkt, key)

    def _dns_facts(self, pkt: Packet, rec: DeviceRecord | None, msg: DnsMessage) -> None:
        if not msg.is_response:
            return
        mdns = pkt.sport == 5353
        for name, rtype, value in msg.answers:
            if rtype in (QTYPE_A, QTYPE_AAAA):
                if mdns:
                    if rec is not None and name.endswith(".local"):
                        Inventory.add_name(rec, "mdns:" + name)
                else:
                    self.ctx.remember_resolution(value, name)
        if mdns and rec is not None:
            Inventory.add_bounded(rec.protocols, "mdns")

    def _dhcp_facts(self, msg: DhcpMessage) -> None:
        if msg.op != 1:
            return
        rec = self.inventory.devices.get(msg.client_mac)
        if rec is None:
            return
        Inventory.add_bounded(rec.protocols, "dhcp")
        if msg.hostname:
            rec.dhcp_hostname = msg.hostname
        if msg.vendor_class:
            rec.dhcp_vendor_class = msg.vendor_class
        if msg.fingerprint:
            rec.dhcp_fingerprint = msg.fingerprint

    # -- output --------------------------------------------------------------------------

    def _report(self, det: Detection) -> None:
        self.book.report(det)
