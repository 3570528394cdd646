"""Malformed input never crashes the monitor: random frames, mutated real frames, random
application payloads and random capture files."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config import MonitorConfig
from monitor.decode import LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_RAW, decode
from monitor.engine import Engine
from monitor.errors import CaptureError
from monitor.inventory import Inventory
from monitor.pcapio import CaptureFile
from monitor.protocols.coap import parse_coap
from monitor.protocols.dhcp import parse_dhcp
from monitor.protocols.dns import parse_dns
from monitor.protocols.modbus import parse_modbus
from monitor.protocols.mqtt import parse_mqtt
from tests.monitor import scenarios as s
from tests.monitor.conftest import Collector

SEEDS = [bytes(p) for p in (
    s.mqtt_session(None, topic=b"#") + s.telnet_login() + s.ftp_login() + s.http_request(True)
    + s.modbus("10.0.0.9", True) + s.coap_reflection(responses=1) + s.dga_lookups(2)
    + s.nxdomain_burst(2) + [s.dhcp_offer("10.0.0.66"), s.dhcp_request()]
    + s.arp_spoof_gateway()
)]

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _engine() -> tuple[Engine, Collector]:
    cfg = MonitorConfig()
    sink = Collector()
    return Engine(cfg, Inventory(cfg.local_networks), [sink], learn_seconds=0), sink


@FUZZ
@given(st.binary(max_size=200), st.sampled_from([LINKTYPE_ETHERNET, LINKTYPE_RAW,
                                                  LINKTYPE_LINUX_SLL, 0, 12345]))
def test_random_frames(frame: bytes, linktype: int) -> None:
    engine, _sink = _engine()
    engine.process_frame(frame, 1.0, linktype)
    engine.finish()
    assert engine.stats.packets == 1


@FUZZ
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 1499), st.integers(0, 255)),
                                        max_size=8), st.integers(0, 1500))
def test_mutated_real_frames(seed: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    frame = bytearray(seed)
    for pos, value in flips:
        if pos < len(frame):
            frame[pos] = value
    engine, _sink = _engine()
    for i in range(3):
        engine.process_frame(bytes(frame[:cut]), 1.0 + i)
    engine.finish()
    assert engine.stats.packets == 3


@FUZZ
@given(st.binary(max_size=600))
def test_parsers_on_random_payloads(payload: bytes) -> None:
    parse_dns(payload)
    parse_dhcp(payload)
    parse_coap(payload)
    parse_modbus(payload)
    parse_mqtt(payload)
    pkt = decode(payload, 0.0)
    assert pkt.length == len(payload)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.sampled_from([b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x0a\x0d\x0d\x0a", b""]),
       st.binary(max_size=400))
def test_random_capture_files(tmp_path: Path, magic: bytes, body: bytes) -> None:
    path = tmp_path / "fuzz.pcap"
    path.write_bytes(magic + body)
    try:
        capture = CaptureFile(path)
        for _frame in capture.frames():
            pass
    except CaptureError as exc:
        assert str(exc).startswith(str(path))


@pytest.mark.parametrize("size", [0, 1, 13, 14, 33, 54])
def test_truncated_seeds(size: int) -> None:
    engine, _sink = _engine()
    for seed in SEEDS:
        engine.process_frame(seed[:size], 1.0)
    engine.finish()
    assert engine.stats.packets == len(SEEDS)
