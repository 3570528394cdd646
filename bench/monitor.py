"""Monitor throughput and memory.

Generates a synthetic IoT capture at bench time (our own struct-built frames, written with
monitor.pcapio.PcapWriter), then measures, on the same file and in the same run:

- zonegate monitor with every detector on (read + decode + inventory + detectors),
- our raw pcap reading alone, and read + fast decode,
- scapy's full dissection (PcapReader) on a slice of the file,
- tshark dissecting the whole file (fields output, so it really dissects),

and, in a child process, peak RSS and tracemalloc peak for a 10k-device capture.

    .venv/bin/python -m bench.monitor [--packets N] [--devices N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from bench._report import report
from monitor.config import MonitorConfig
from monitor.decode import decode
from monitor.engine import Engine
from monitor.inventory import Inventory
from monitor.pcapio import CaptureFile, PcapWriter

_T0 = 1_750_000_000.0


def _ip(n: int) -> bytes:
    return bytes((10, (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF))


def _mac(n: int) -> bytes:
    return bytes((0x00, 0x12, 0x12, (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF))


def _frame(src: int, dst: int, proto: int, sport: int, dport: int, payload: bytes,
           flags: int = 0x18, seq: int = 1) -> bytes:
    if proto == 6:
        l4 = struct.pack("!HHIIBBHHH", sport, dport, seq, 1, 0x50, flags, 64240, 0, 0)
    else:
        l4 = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    total = 20 + len(l4) + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, proto, 0,
                     _ip(src), _ip(dst))
    return _mac(dst) + _mac(src) + b"\x08\x00" + ip + l4 + payload


_MQTT_PUBLISH = b"\x30\x1a\x00\x0csensors/temp" + b'{"t":21.5,"h":40}'[:12]
_DNS_QUERY = (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
              b"\x03api\x0bthingspeak\x03com\x00\x00\x01\x00\x01")
_COAP_GET = b"\x40\x01\x00\x01\xb4temp"


def write_capture(path: Path, packets: int, devices: int, seed: int = 1) -> None:
    """A mixed IoT capture: sessions, telemetry, MQTT, DNS, CoAP, connection starts."""
    rng = random.Random(seed)
    servers = [devices + 1 + i for i in range(16)]
    data = [rng.randbytes(size) for size in (120, 400, 900, 1400)]
    with path.open("wb") as fh:
        writer = PcapWriter(fh)
        ts = _T0
        for i in range(packets):
            ts += 0.0005
            dev = i % devices + 2
            srv = servers[dev % len(servers)]
            kind = rng.random()
            if kind < 0.55:
                frame = _frame(dev, srv, 6, 40000 + dev % 20000, 443, data[i & 3])
            elif kind < 0.63:
                frame = _frame(srv, dev, 6, 443, 40000 + dev % 20000, b"", flags=0x10)
            elif kind < 0.68:
                frame = _frame(dev, srv, 6, 41000 + i % 20000, 8883, b"", flags=0x02)
            elif kind < 0.72:
                frame = _frame(srv, dev, 6, 8883, 41000 + (i - 1) % 20000, b"", flags=0x12)
            elif kind < 0.86:
                frame = _frame(dev, srv, 17, 5000, 9000, data[0])
            elif kind < 0.93:
                frame = _frame(dev, srv, 6, 45000 + dev % 1000, 1883, _MQTT_PUBLISH)
            elif kind < 0.97:
                frame = _frame(dev, 1, 17, 53000 + i % 1000, 53, _DNS_QUERY)
            else:
                frame = _frame(dev, srv, 17, 5683, 5683, _COAP_GET)
            writer.write(ts, frame)


def _cpu(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _timed(fn: Callable[[], tuple[float, ...]], who: int = resource.RUSAGE_SELF
           ) -> tuple[float, float, tuple[float, ...]]:
    """(wall seconds, CPU seconds, result) of one call."""
    cpu, wall = _cpu(who), time.perf_counter()
    result = fn()
    return time.perf_counter() - wall, _cpu(who) - cpu, result


def _ours(path: Path) -> tuple[float, int, int]:
    cfg = MonitorConfig()
    engine = Engine(cfg, Inventory(cfg.local_networks), [])
    process = engine.process_frame
    start = time.perf_counter()
    for ts, wirelen, frame, linktype in CaptureFile(path).frames():
        process(frame, ts, linktype, wirelen)
    engine.finish()
    return time.perf_counter() - start, engine.stats.packets, len(engine.inventory.devices)


def _read_only(path: Path) -> tuple[float, int]:
    start = time.perf_counter()
    n = sum(1 for _ in CaptureFile(path).frames())
    return time.perf_counter() - start, n


def _read_decode(path: Path) -> tuple[float, int]:
    start = time.perf_counter()
    n = 0
    for ts, wirelen, frame, linktype in CaptureFile(path).frames():
        decode(frame, ts, linktype, wirelen)
        n += 1
    return time.perf_counter() - start, n


def _scapy(path: Path, limit: int) -> tuple[float, int]:
    # every layer scapy ships, plus the contrib dissectors the monitor would need
    import scapy.all
    import scapy.contrib.coap
    import scapy.contrib.modbus
    import scapy.contrib.mqtt  # noqa: F401
    from scapy.utils import PcapReader

    start = time.perf_counter()
    n = 0
    with PcapReader(str(path)) as reader:
        for pkt in reader:
            if n == 0 and "IP" not in pkt:
                raise RuntimeError("scapy did not dissect the capture (layers not loaded)")
            n += 1
            if n >= limit:
                break
    return time.perf_counter() - start, n


def _tshark(path: Path) -> tuple[float, int] | None:
    tshark = shutil.which("tshark")
    if tshark is None:
        return None
    start = time.perf_counter()
    result = subprocess.run(
        [tshark, "-n", "-r", str(path), "-T", "fields", "-e", "frame.number", "-e", "ip.src",
         "-e", "tcp.dstport", "-e", "udp.dstport", "-e", "mqtt.topic", "-e", "dns.qry.name"],
        capture_output=True, check=True)
    elapsed = time.perf_counter() - start
    return elapsed, result.stdout.count(b"\n")


def _status_kb(field: str) -> int:
    # /proc/self/status, not ru_maxrss: the latter survives exec and would report the parent
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _memory_child(path: str) -> None:
    """Run in a child process: peak RSS and tracemalloc peak for one pass."""
    before = _status_kb("VmRSS")
    tracemalloc.start()
    elapsed, packets, devices = _ours(Path(path))
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    after = _status_kb("VmHWM")
    print(json.dumps({"packets": packets, "devices": devices, "tracemalloc_peak_mb": peak / 2**20,
                      "rss_before_mb": before / 1024, "rss_peak_mb": after / 1024,
                      "seconds_traced": elapsed}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.monitor")
    parser.add_argument("--packets", type=int, default=100_000)
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--memory-devices", type=int, default=10_000)
    parser.add_argument("--scapy-packets", type=int, default=20_000)
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.memory_child:
        _memory_child(args.memory_child)
        return
    with tempfile.TemporaryDirectory(prefix="zg-bench-monitor-") as tmp:
        pcap = Path(tmp) / "iot.pcap"
        write_capture(pcap, args.packets, args.devices)
        big = Path(tmp) / "iot-10k.pcap"
        write_capture(big, max(args.memory_devices * 20, 200_000), args.memory_devices, seed=2)
        rows: list[dict[str, object]] = []
        wall, cpu, (_s, n, devices) = _timed(lambda: _ours(pcap))
        rows.append(_row("zonegate monitor, all detectors", int(n), wall, cpu,
                         f"{int(devices)} devices"))
        wall, cpu, (_s, n) = _timed(lambda: _read_decode(pcap))
        rows.append(_row("zonegate read + fast decode", int(n), wall, cpu, ""))
        wall, cpu, (_s, n) = _timed(lambda: _read_only(pcap))
        rows.append(_row("zonegate pcap read only", int(n), wall, cpu, ""))
        wall, cpu, (_s, n) = _timed(lambda: _scapy(pcap, args.scapy_packets))
        rows.append(_row("scapy PcapReader full dissection", int(n), wall, cpu,
                         "first packets only"))
        shark = None
        if shutil.which("tshark") is not None:
            wall, cpu, shark = _timed(lambda: _tshark(pcap) or (0.0, 0),
                                      resource.RUSAGE_CHILDREN)
            rows.append(_row("tshark -T fields (dissects)", int(shark[1]), wall, cpu,
                             "whole file"))
        child = subprocess.run([sys.executable, "-m", "bench.monitor", "--memory-child",
                                str(big)], capture_output=True, text=True, check=True)
        mem = json.loads(child.stdout)
        ours_pps = rows[0]["packets_per_cpu_s"]
        scapy_pps = rows[3]["packets_per_cpu_s"]
        assert isinstance(ours_pps, float) and isinstance(scapy_pps, float)
        notes = [
            f"ours vs scapy dissection: x{ours_pps / scapy_pps:.1f}"
            + (f"; vs tshark: x{ours_pps / rows[4]['packets_per_cpu_s']:.2f}"  # type: ignore[operator]
               if shark is not None else "; tshark not installed"),
            f"memory, {mem['devices']:,} devices / {mem['packets']:,} packets: "
            f"peak RSS {mem['rss_peak_mb']:.1f} MB (interpreter and imports "
            f"{mem['rss_before_mb']:.1f} MB), tracemalloc peak {mem['tracemalloc_peak_mb']:.1f} MB",
            "packets_per_cpu_s = packets / (user+system CPU seconds): the per-core rate; "
            "the engine is single-threaded",
            f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
            "(shared machine: wall-clock rates drop under load)",
        ]
        report("monitor", rows, title="zonegate monitor throughput (packets/s, one core)",
               notes=notes)


def _row(what: str, packets: int, wall: float, cpu: float, note: str) -> dict[str, object]:
    return {"what": what, "packets": packets, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
            "packets_per_s": packets / wall if wall else 0.0,
            "packets_per_cpu_s": packets / cpu if cpu else 0.0, "note": note}


if __name__ == "__main__":
    main()
