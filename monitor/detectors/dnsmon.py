"""DNS abuse: DGA lookups and DNS tunnelling.

dns_dga: the label left of the registered domain is long and high-entropy (Shannon bits per
character) — `suspicious_names` such lookups in the window — or a burst of NXDOMAIN answers
to one client (`nxdomain_burst` in the window).

dns_tunnel: a label longer than `max_label_length`, or `unique_subdomains` distinct names
under one registered domain in the window, or `txt_queries` TXT lookups to one domain.
"""

from __future__ import annotations

import math
from collections import Counter, deque

from monitor.detectors.base import DetectorContext
from monitor.model import Packet
from monitor.protocols.dns import QTYPE_TXT, RCODE_NXDOMAIN, DnsMessage

_SECOND_LEVEL = frozenset({
    "co.uk", "org.uk", "ac.uk", "com.cn", "net.cn", "org.cn", "gov.cn", "edu.cn", "com.au",
    "net.au", "co.jp", "ne.jp", "com.br", "co.in", "com.hk", "com.tw", "co.kr", "com.sg",
})
_TABLE_LIMIT = 1 << 15
_IGNORED_SUFFIXES = (".local", ".arpa", ".lan", ".home.arpa")


def registered_domain(name: str) -> tuple[str, str]:
    """(registered domain, the rest) for a query name, by a short public-suffix list."""
    labels = name.rstrip(".").split(".")
    take = 3 if len(labels) >= 3 and ".".join(labels[-2:]) in _SECOND_LEVEL else 2
    return ".".join(labels[-take:]), ".".join(labels[:-take])


def entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    if not text:
        return 0.0
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


class _Window:
    """Timestamps in a sliding window, per key, with bounded keys."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._events: dict[tuple[str, ...], deque[float]] = {}

    def add(self, key: tuple[str, ...], ts: float) -> int:
        if len(self._events) >= _TABLE_LIMIT:
            self._events.clear()
        times = self._events.setdefault(key, deque(maxlen=4096))
        times.append(ts)
        while times[0] < ts - self.seconds:
            times.popleft()
        return len(times)


class DnsDga:
    def __init__(self, ctx: DetectorContext) -> None:
        self.ctx = ctx
        self.cfg = ctx.config.detectors.dns_dga
        self._suspicious = _Window(self.cfg.window_seconds)
        self._nx = _Window(self.cfg.window_seconds)

    def on_dns(self, pkt: Packet, msg: DnsMessage) -> None:
        if pkt.dport == 5353 or pkt.sport == 5353:
            return
        if not msg.is_response:
            client = pkt.src_ip or "?"
            for name, _qtype in msg.questions:
                if name.endswith(_IGNORED_SUFFIXES):
                    continue
                domain, _rest = registered_domain(name)
                label = domain.split(".")[0]
                score = entropy(label)
                if len(label) >= self.cfg.min_length and score >= self.cfg.min_entropy:
                    seen = self._suspicious.add((client,), pkt.ts)
                    if seen >= self.cfg.suspicious_names:
                        self.ctx.detect(
                            "dns_dga", pkt, (client,), self.cfg.severity,
                            f"{client} looked up {seen} algorithm-like domains "
                            f"within {self.cfg.window_seconds:g}s (e.g. {name})",
                            {"query": name, "entropy": round(score, 2), "count": seen,
                             "reason": "entropy"},
                        )
        elif msg.rcode == RCODE_NXDOMAIN and pkt.dst_ip is not None:
            client = pkt.dst_ip
            seen = self._nx.add((client,), pkt.ts)
            if seen >= self.cfg.nxdomain_burst:
                name = msg.questions[0][0] if msg.questions else ""
                self.ctx.detect(
                    "dns_dga", pkt, (client,), self.cfg.severity,
                    f"{client} received {seen} NXDOMAIN answers within "
                    f"{self.cfg.window_seconds:g}s (e.g. {name})",
                    {"query": name, "count": seen, "reason": "nxdomain_burst"},
                    reverse=True,
                )


class DnsTunnel:
    def __init__(self, ctx: DetectorContext) -> None:
        self.ctx = ctx
        self.cfg = ctx.config.detectors.dns_tunnel
        self._names: dict[tuple[str, str], dict[str, float]] = {}
        self._txt = _Window(self.cfg.window_seconds)

    def on_dns(self, pkt: Packet, msg: DnsMessage) -> None:
        if msg.is_response or pkt.dport == 5353:
            return
        client = pkt.src_ip or "?"
        for name, qtype in msg.questions:
            if name.endswith(_IGNORED_SUFFIXES):
                continue
            domain, rest = registered_domain(name)
            if not rest:
                continue
            longest = max(len(label) for label in rest.split("."))
            if longest > self.cfg.max_label_length:
                self._emit(pkt, client, domain, name, "long_label",
                           {"label_length": longest})
                continue
            if len(self._names) >= _TABLE_LIMIT:
                self._names.clear()
            subs = self._names.setdefault((client, domain), {})
            subs[rest] = pkt.ts
            if len(subs) >= self.cfg.unique_subdomains:
                cutoff = pkt.ts - self.cfg.window_seconds
                for old in [k for k, ts in subs.items() if ts < cutoff]:
                    del subs[old]
                if len(subs) >= self.cfg.unique_subdomains:
                    self._emit(pkt, client, domain, name, "unique_subdomains",
                               {"unique_subdomains": len(subs)})
            if qtype == QTYPE_TXT:
                seen = self._txt.add((client, domain), pkt.ts)
                if seen >= self.cfg.txt_queries:
                    self._emit(pkt, client, domain, name, "txt_queries", {"txt_queries": seen})

    def _emit(self, pkt: Packet, client: str, domain: str, name: str, reason: str,
              extra: dict[str, int]) -> None:
        evidence: dict[str, str | int | float | bool | list[str] | list[int] | None] = {
            "domain": domain, "query": name[:253], "reason": reason}
        evidence.update(extra)
        self.ctx.detect("dns_tunnel", pkt, (client, domain), self.cfg.severity,
                        f"{client} looks like it tunnels through DNS to {domain} ({reason})",
                        evidence)
