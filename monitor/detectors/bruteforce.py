"""Telnet and SSH brute force: many connection attempts from one source to one target.

Telnet also carries the Mirai signature: a SYN to 23/2323 whose sequence number equals the
destination IPv4 address, which Mirai's scanner uses to recognise its own probes; one such
SYN is enough.
"""

from __future__ import annotations

from collections import deque

from monitor.detectors.base import DetectorContext
from monitor.model import Packet

_TABLE_LIMIT = 1 << 16


class _AttemptCounter:
    def __init__(self, window: float, attempts: int) -> None:
        self.window = window
        self.attempts = attempts
        self._seen: dict[tuple[str, str], deque[float]] = {}

    def add(self, src: str, dst: str, ts: float) -> int:
        if len(self._seen) >= _TABLE_LIMIT:
            self._seen.clear()
        times = self._seen.setdefault((src, dst), deque(maxlen=self.attempts * 4))
        times.append(ts)
        while times and times[0] < ts - self.window:
            times.popleft()
        return len(times)


class TelnetBruteforce:
    def __init__(self, ctx: DetectorContext) -> None:
        self.ctx = ctx
        self.cfg = ctx.config.detectors.telnet_bruteforce
        self.ports = frozenset(self.cfg.ports)
        self._counter = _AttemptCounter(self.cfg.window_seconds, self.cfg.attempts)

    def on_connection(self, pkt: Packet, key: str) -> None:
        if pkt.proto != 6 or pkt.dport not in self.ports or pkt.src_ip is None \
                or pkt.dst_ip is None:
            return
        if pkt.ip_version == 4 and pkt.seq == int.from_bytes(pkt.dst_ip_raw, "big"):
            self.ctx.detect(
                "telnet_bruteforce", pkt, (pkt.src_ip,), self.cfg.mirai_severity,
                f"{pkt.src_ip} sent a Mirai-signature SYN to {pkt.dst_ip}:{pkt.dport}",
                {"mirai_signature": True, "target": pkt.dst_ip, "port": pkt.dport},
            )
            return
        seen = self._counter.add(pkt.src_ip, pkt.dst_ip, pkt.ts)
        if seen >= self.cfg.attempts:
            self.ctx.detect(
                "telnet_bruteforce", pkt, (pkt.src_ip,), self.cfg.severity,
                f"{pkt.src_ip} opened {seen} Telnet connections to {pkt.dst_ip} "
                f"within {self.cfg.window_seconds:g}s",
                {"mirai_signature": False, "attempts": seen, "target": pkt.dst_ip},
            )


class SshBruteforce:
    def __init__(self, ctx: DetectorContext) -> None:
        self.ctx = ctx
        self.cfg = ctx.config.detectors.ssh_bruteforce
        self.ports = frozenset(self.cfg.ports)
        self._counter = _AttemptCounter(self.cfg.window_seconds, self.cfg.attempts)

    def on_connection(self, pkt: Packet, key: str) -> None:
        if pkt.proto != 6 or pkt.dport not in self.ports or pkt.src_ip is None \
                or pkt.dst_ip is None:
            return
        seen = self._counter.add(pkt.src_ip, pkt.dst_ip, pkt.ts)
        if seen >= self.cfg.attempts:
            self.ctx.detect(
                "ssh_bruteforce", pkt, (pkt.src_ip, pkt.dst_ip), self.cfg.severity,
                f"{pkt.src_ip} opened {seen} SSH connections to {pkt.dst_ip} "
                f"within {self.cfg.window_seconds:g}s",
                {"attempts": seen},
            )
