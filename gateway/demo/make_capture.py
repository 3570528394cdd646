"""Remake the demo's shipped capture, gateway/demo/data/edge.pcap (deterministic).

    .venv/bin/python -m gateway.demo.make_capture

The demo's terminals live on loopback addresses so that the gateway can recognise them by
source address as well as by certificate: the traffic sensor is 127.0.0.12 and the camera
127.0.0.13. In the capture the sensor publishes readings to the gateway (TCP 8443) every
ten seconds, and the camera, after behaving the same way for a minute, turns into a Mirai
bot: SYNs to Telnet (23) whose sequence number is the target's IPv4 address, swept over the
neighbouring addresses. The monitor raises `telnet_bruteforce` (Mirai signature, severity
90) and `port_scan_horizontal`, and quarantines the camera.

scapy is imported inside `build()` only: shipped code never imports it at top level.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scapy.packet import Packet

CAPTURE = Path(__file__).resolve().parent / "data" / "edge.pcap"
T0 = 1_764_028_800.0  # 2025-11-25T00:00:00Z: fixed, so the file is byte-for-byte stable
GATEWAY_IP, GATEWAY_MAC = "127.0.0.1", "00:1d:0f:00:00:01"
SENSOR_IP, SENSOR_MAC = "127.0.0.12", "00:0e:c6:00:00:0c"
CAMERA_IP, CAMERA_MAC = "127.0.0.13", "00:12:12:00:00:0d"  # a Hikvision OUI
SCAN_TARGETS = 30
# irregular gaps (seconds) between the sensor's reports: a real sensor is not a metronome,
# and a fixed period would (rightly) look like beaconing to the monitor
SENSOR_GAPS = (9.0, 14.5, 6.0, 12.0, 8.5, 15.0, 5.5, 11.0, 13.5, 7.0, 10.0)


def _macs() -> dict[str, str]:
    return {GATEWAY_IP: GATEWAY_MAC, SENSOR_IP: SENSOR_MAC, CAMERA_IP: CAMERA_MAC}


def _tcp(src: str, dst: str, sport: int, dport: int, flags: str, ts: float,
         seq: int = 1000, ack: int = 0, payload: bytes = b"") -> Packet:
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    macs = _macs()
    frame = (Ether(src=macs.get(src, "02:00:00:00:00:99"), dst=macs.get(dst, "02:00:00:00:00:98"))
             / IP(src=src, dst=dst, id=0)
             / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, window=64240))
    if payload:
        frame = frame / Raw(load=payload)
    frame.time = ts
    return frame


def _publish(src: str, sport: int, ts: float) -> list[Packet]:
    """One short TLS-looking exchange with the gateway (handshake, data, close)."""
    body = b"\x17\x03\x03\x00\x20" + bytes(32)
    return [
        _tcp(src, GATEWAY_IP, sport, 8443, "S", ts, seq=5000),
        _tcp(GATEWAY_IP, src, 8443, sport, "SA", ts + 0.001, seq=9000, ack=5001),
        _tcp(src, GATEWAY_IP, sport, 8443, "A", ts + 0.002, seq=5001, ack=9001),
        _tcp(src, GATEWAY_IP, sport, 8443, "PA", ts + 0.003, seq=5001, ack=9001, payload=body),
        _tcp(GATEWAY_IP, src, 8443, sport, "PA", ts + 0.004, seq=9001, ack=5001 + len(body),
             payload=body),
        _tcp(src, GATEWAY_IP, sport, 8443, "FA", ts + 0.005, seq=5001 + len(body), ack=9033),
        _tcp(GATEWAY_IP, src, 8443, sport, "FA", ts + 0.006, seq=9033, ack=5002 + len(body)),
    ]


def packets() -> list[Packet]:
    """Every packet of the capture, in time order."""
    out: list[Packet] = []
    ts = T0
    for i, gap in enumerate((0.0, *SENSOR_GAPS)):
        ts += gap
        out += _publish(SENSOR_IP, 40000 + i, ts)
    ts = T0 + 1.0
    for i, gap in enumerate((0.0, *reversed(SENSOR_GAPS[:5]))):
        ts += gap
        out += _publish(CAMERA_IP, 41000 + i, ts)
    base = int(ipaddress.IPv4Address("127.0.0.100"))
    for i in range(SCAN_TARGETS):
        target = ipaddress.IPv4Address(base + i)
        seq = int(target)  # Mirai's scanner marks its probes: sequence number = target address
        out.append(_tcp(CAMERA_IP, str(target), 44000 + i, 23, "S", T0 + 70 + i * 0.05, seq=seq))
    return sorted(out, key=lambda p: float(p.time))


def build(path: Path = CAPTURE) -> Path:
    """Write the capture to `path` and return it."""
    from scapy.utils import wrpcap

    path.parent.mkdir(parents=True, exist_ok=True)
    wrpcap(str(path), packets())
    return path


if __name__ == "__main__":
    print(build())
