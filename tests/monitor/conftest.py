"""Helpers for the monitor tests: run crafted scapy packets through the real engine."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pytest
from scapy.packet import Packet as ScapyPacket

from monitor.alerts import Incident
from monitor.config import MonitorConfig
from monitor.engine import Engine
from monitor.inventory import Inventory


class Collector:
    """An alert sink that keeps documents in memory."""

    def __init__(self) -> None:
        self.docs: list[dict[str, Any]] = []

    def emit(self, doc: dict[str, object], incident: Incident) -> None:
        self.docs.append(doc)

    def close(self) -> None:
        pass

    def opened(self, rule: str | None = None) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["event"]["action"] == "incident-opened"
                and (rule is None or d["rule"]["id"] == rule)]

    def rules(self) -> set[str]:
        return {d["rule"]["id"] for d in self.docs}


def make_config(**detectors: dict[str, Any]) -> MonitorConfig:
    """Defaults, with per-detector overrides: make_config(dns_dga={"suspicious_names": 2})."""
    return MonitorConfig.model_validate({"detectors": detectors})


def run_packets(packets: Sequence[ScapyPacket], config: MonitorConfig | None = None,
                learn: float | None = None, engine_out: list[Engine] | None = None
                ) -> Collector:
    cfg = config or MonitorConfig()
    sink = Collector()
    engine = Engine(cfg, Inventory(cfg.local_networks), [sink], learn_seconds=learn)
    for pkt in packets:
        engine.process_frame(bytes(pkt), float(pkt.time))
    engine.finish()
    if engine_out is not None:
        engine_out.append(engine)
    return sink


def timed(packets: Iterable[ScapyPacket], start: float = 1_700_000_000.0,
          step: float = 0.01) -> list[ScapyPacket]:
    """Give packets increasing capture times."""
    out = []
    for i, pkt in enumerate(packets):
        pkt.time = start + i * step
        out.append(pkt)
    return out


@pytest.fixture
def run() -> Callable[..., Collector]:
    return run_packets
