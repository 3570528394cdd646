"""Port scans, as Zeek's scan policy counts them: failed connection attempts only.

A TCP attempt fails when the target answers RST or does not answer SYN-ACK within
`answer_timeout_seconds`; a UDP probe fails when the target answers ICMP destination
unreachable (a silent UDP port cannot be told from a dropped probe, so it does not count).
Answered connections never count, and nor do destinations the
source resolved through DNS, so a client talking to a CDN's many addresses is not a scan.

- port_scan_horizontal: one source, one port, >= `hosts` distinct targets in the window.
- port_scan_vertical: one source, one target, >= `ports` distinct ports in the window.
"""

from __future__ import annotations

from monitor.detectors.base import DetectorContext
from monitor.model import ACK, RST, SYN, Packet

_PENDING_LIMIT = 1 << 18
_Attempt = tuple[str, str, int]


class PortScan:
    """Both scan shapes from one table of connection attempts."""

    def __init__(self, ctx: DetectorContext) -> None:
        self.ctx = ctx
        self.h = ctx.config.detectors.port_scan_horizontal
        self.v = ctx.config.detectors.port_scan_vertical
        self._timeout = min(self.h.answer_timeout_seconds, self.v.answer_timeout_seconds)
        self._pending: dict[_Attempt, Packet] = {}
        self._horizontal: dict[tuple[str, int], dict[str, float]] = {}
        self._vertical: dict[tuple[str, str], dict[int, float]] = {}
        self._last_prune = 0.0

    def on_tcp_flags(self, pkt: Packet) -> None:
        flags = pkt.tcp_flags
        src, dst = pkt.src_ip, pkt.dst_ip
        if src is None or dst is None:
            return
        if flags & SYN and not flags & ACK:
            if len(self._pending) < _PENDING_LIMIT:
                self._pending.setdefault((src, dst, pkt.dport), pkt)
            return
        attempt = (dst, src, pkt.sport)
        origin = self._pending.pop(attempt, None)
        if origin is not None and flags & RST:
            self._failed(origin)

    def on_unreachable(self, probe: Packet) -> None:
        """An ICMP unreachable refused `probe` (rebuilt from the quoted datagram)."""
        if probe.proto == 6:
            origin = self._pending.pop((probe.src_ip or "", probe.dst_ip or "", probe.dport),
                                       None)
            if origin is not None:
                self._failed(origin)
        elif probe.proto == 17:
            self._failed(probe)

    def on_tick(self, now: float) -> None:
        limit = now - self._timeout
        expired = [k for k, p in self._pending.items() if p.ts < limit]
        for key in expired:
            self._failed(self._pending.pop(key))
        if now - self._last_prune > 60:
            self._last_prune = now
            self._prune(now)

    def _failed(self, pkt: Packet) -> None:
        src, dst, port = pkt.src_ip, pkt.dst_ip, pkt.dport
        if src is None or dst is None:
            return
        if self.h.enabled and dst not in self.ctx.resolved:
            targets = self._horizontal.setdefault((src, port), {})
            targets[dst] = pkt.ts
            if len(targets) >= self.h.hosts:
                self._trim(targets, pkt.ts - self.h.window_seconds)
                if len(targets) >= self.h.hosts:
                    self.ctx.detect(
                        "port_scan_horizontal", pkt, (src, port), self.h.severity,
                        f"{src} probed port {port} on {len(targets)} hosts "
                        f"within {self.h.window_seconds:g}s",
                        {"distinct_hosts": len(targets), "port": port,
                         "sample_hosts": sorted(targets)[:10]},
                    )
        if self.v.enabled:
            ports = self._vertical.setdefault((src, dst), {})
            ports[port] = pkt.ts
            if len(ports) >= self.v.ports:
                self._trim(ports, pkt.ts - self.v.window_seconds)
                if len(ports) >= self.v.ports:
                    self.ctx.detect(
                        "port_scan_vertical", pkt, (src, dst), self.v.severity,
                        f"{src} probed {len(ports)} ports on {dst} "
                        f"within {self.v.window_seconds:g}s",
                        {"distinct_ports": len(ports), "sample_ports": sorted(ports)[:20]},
                    )

    @staticmethod
    def _trim(table: dict[str, float] | dict[int, float], cutoff: float) -> None:
        for key in [k for k, ts in table.items() if ts < cutoff]:
            del table[key]  # type: ignore[arg-type]

    def _prune(self, now: float) -> None:
        for h_key in [k for k, t in self._horizontal.items()
                      if max(t.values()) < now - self.h.window_seconds]:
            del self._horizontal[h_key]
        for v_key in [k for k, t in self._vertical.items()
                      if max(t.values()) < now - self.v.window_seconds]:
            del self._vertical[v_key]
