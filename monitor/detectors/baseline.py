"""Detectors measured against each device's own learned behaviour (Kitsune's idea, simply).

Silent inside the learning window, where they only learn.

- new_destination: a connection from a baselined device to a destination key (DNS name or
  IP, port, transport) it never used while learning.
- beaconing: >= `min_connections` connection starts to one destination at regular
  intervals (coefficient of variation <= `max_jitter`), to a destination outside the
  device's baseline (or, for a device with no baseline, outside the local networks). A
  sensor's MQTT keep-alive inside one long connection is not a connection start.
- volume_spike: a device's bytes per bucket against its own EWMA mean and variance
  (z-score >= `z_threshold`), and at least `floor_bytes`.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from monitor.detectors.base import DetectorContext
from monitor.inventory import DeviceRecord, Inventory
from monitor.model import TRANSPORT_NAMES, Packet

_TABLE_LIMIT = 1 << 17
_BASELINE_LIMIT = 512


class NewDestination:
    def __init__(self, ctx: DetectorContext) -> None:
        self.ctx = ctx
        self.cfg = ctx.config.detectors.new_destination

    def on_connection(self, pkt: Packet, key: str) -> None:
        rec = self.ctx.inventory.device_for(pkt.src_mac, pkt.src_ip)
        if rec is None:
            return
        if self.ctx.learning(pkt.ts):
            Inventory.add_bounded(rec.baseline, key, _BASELINE_LIMIT)
            return
        if not rec.baselined or key in rec.baseline:
            return
        self.ctx.detect(
            "new_destination", pkt, (rec.device_id, key), self.cfg.severity,
            f"{rec.device_id} connected to {key}, outside its learned baseline",
            {"destination_key": key, "baseline_size": len(rec.baseline)},
        )


class Beaconing:
    def __init__(self, ctx: DetectorContext) -> None:
        self.ctx = ctx
        self.cfg = ctx.config.detectors.beaconing
        self._starts: dict[tuple[str, str], deque[float]] = {}

    def on_connection(self, pkt: Packet, key: str) -> None:
        if self.ctx.learning(pkt.ts) or pkt.src_ip is None:
            return
        rec = self.ctx.inventory.device_for(pkt.src_mac, pkt.src_ip)
        if rec is not None and rec.baselined:
            if key in rec.baseline:
                return
        elif pkt.dst_ip is None or self.ctx.inventory.is_local(pkt.dst_ip):
            return
        if len(self._starts) >= _TABLE_LIMIT:
            self._starts.clear()
        times = self._starts.setdefault((pkt.src_ip, key),
                                        deque(maxlen=self.cfg.min_connections))
        times.append(pkt.ts)
        if len(times) < self.cfg.min_connections:
            return
        gaps = [b - a for a, b in zip(times, list(times)[1:], strict=False)]
        mean = sum(gaps) / len(gaps)
        if mean < self.cfg.min_interval_seconds:
            return
        std = math.sqrt(sum((g - mean) ** 2 for g in gaps) / len(gaps))
        jitter = std / mean
        if jitter <= self.cfg.max_jitter:
            self.ctx.detect(
                "beaconing", pkt, (pkt.src_ip, key), self.cfg.severity,
                f"{pkt.src_ip} connects to {key} every {mean:.1f}s "
                f"(jitter {jitter:.3f}), outside its baseline",
                {"destination_key": key, "interval_seconds": round(mean, 3),
                 "jitter": round(jitter, 4), "connections": len(times)},
            )


@dataclass(slots=True)
class _Ewma:
    mean: float = 0.0
    var: float = 0.0
    n: int = 0


class VolumeSpike:
    def __init__(self, ctx: DetectorContext) -> None:
        self.ctx = ctx
        self.cfg = ctx.config.detectors.volume_spike
        self._stats: dict[str, _Ewma] = {}
        ctx.inventory.on_bucket(self.on_bucket)

    def on_bucket(self, rec: DeviceRecord, size: int, start: float) -> None:
        stats = self._stats.get(rec.device_id)
        if stats is None:
            if len(self._stats) >= _TABLE_LIMIT:
                return
            stats = self._stats[rec.device_id] = _Ewma()
        if not self.ctx.learning(start) and stats.n >= self.cfg.min_buckets \
                and size >= self.cfg.floor_bytes:
            spread = max(math.sqrt(stats.var), stats.mean * 0.1, 1.0)
            z = (size - stats.mean) / spread
            if z >= self.cfg.z_threshold:
                ip = min(rec.ips) if rec.ips else None
                pkt = Packet(start + self.cfg.bucket_seconds, size, src_mac=rec.mac, src_ip=ip)
                self.ctx.detect(
                    "volume_spike", pkt, (rec.device_id,), self.cfg.severity,
                    f"{rec.device_id} sent {size} bytes in {self.cfg.bucket_seconds:g}s, "
                    f"z-score {z:.1f} against its mean {stats.mean:.0f}",
                    {"bytes": size, "mean_bytes": round(stats.mean, 1),
                     "z_score": round(z, 2), "bucket_seconds": self.cfg.bucket_seconds},
                )
        alpha = self.cfg.alpha if stats.n else 1.0
        diff = size - stats.mean
        stats.mean += alpha * diff
        stats.var = (1 - alpha) * (stats.var + alpha * diff * diff)
        stats.n += 1


def transport_name(proto: int) -> str:
    return TRANSPORT_NAMES.get(proto, str(proto))
