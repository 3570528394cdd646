"""Wiring for `zonegate monitor run`: build the engine and sinks, read a capture or an
interface, keep the inventory saved, and report a summary.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from monitor.config import MonitorConfig
from monitor.engine import Engine
from monitor.errors import CaptureError
from monitor.incidents import AlertSink
from monitor.inventory import Inventory
from monitor.pcapio import CaptureFile
from monitor.quarantine import QuarantineFile
from monitor.sinks import CefSyslogSink, HttpSink, NdjsonSink, OcsfSink, SinkCredentials
from monitor.sinks.live import LiveTable

_SAVE_EVERY = 30.0


@dataclass
class RunOptions:
    """Everything `monitor run` can be asked to do."""

    pcap: Path | None = None
    iface: str | None = None
    bpf: str | None = None
    duration: float | None = None
    alerts_out: Path | None = None
    alerts_url: str | None = None
    spool: Path | None = None
    alerts_credentials: SinkCredentials | None = None  # mTLS / token for --alerts-url
    ocsf_out: Path | None = None
    cef_syslog: tuple[str, int, str] | None = None
    inventory: Path | None = None
    quarantine_file: Path | None = None
    learn_seconds: float | None = None
    live_table: bool = False
    progress: bool = False
    on_ready: Callable[[str], None] | None = None


@dataclass
class RunSummary:
    """What a run did, for the closing report."""

    packets: int = 0
    seconds: float = 0.0
    capture_span: float = 0.0
    devices: int = 0
    incidents: dict[str, int] = field(default_factory=dict)
    truncated_frames: int = 0
    truncated_file: bool = False
    kernel_dropped: int | None = None
    quarantined: list[str] = field(default_factory=list)
    spooled: int = 0


def build_sinks(opts: RunOptions, console: Console | None) -> list[AlertSink]:
    sinks: list[AlertSink] = []
    if opts.alerts_out is not None:
        sinks.append(NdjsonSink(opts.alerts_out))
    if opts.alerts_url is not None:
        spool = opts.spool or Path("zonegate-alerts.spool")
        sinks.append(HttpSink(opts.alerts_url, spool, credentials=opts.alerts_credentials))
    if opts.ocsf_out is not None:
        sinks.append(OcsfSink(opts.ocsf_out))
    if opts.cef_syslog is not None:
        host, port, transport = opts.cef_syslog
        sinks.append(CefSyslogSink(host, port, "tcp" if transport == "tcp" else "udp"))
    if opts.live_table and console is not None:
        sinks.append(LiveTable(console))
    return sinks


def run(opts: RunOptions, config: MonitorConfig, console: Console | None = None) -> RunSummary:
    """Run the monitor over a pcap or a live interface until the input ends."""
    inventory = Inventory(config.local_networks, max_devices=config.max_devices,
                          max_peers=config.max_peers, trusted=config.trusted_devices)
    if opts.inventory is not None:
        inventory.load(opts.inventory)
    quarantine = QuarantineFile(opts.quarantine_file) if opts.quarantine_file else None
    sinks = build_sinks(opts, console)
    engine = Engine(config, inventory, sinks, quarantine=quarantine,
                    learn_seconds=opts.learn_seconds)
    summary = RunSummary()
    started = time.perf_counter()
    try:
        if opts.pcap is not None:
            summary.truncated_file = _run_pcap(opts.pcap, engine, console if opts.progress
                                               else None, opts.inventory)
        elif opts.iface is not None:
            summary.kernel_dropped = _run_live(opts.iface, opts, engine)
        else:
            raise CaptureError("give --pcap FILE or --iface IF")
        engine.finish()
    finally:
        for sink in sinks:
            sink.close()
        if opts.inventory is not None:
            inventory.save(opts.inventory)
    summary.seconds = time.perf_counter() - started
    summary.packets = engine.stats.packets
    summary.truncated_frames = engine.stats.truncated
    if engine.stats.first_ts is not None and engine.stats.last_ts is not None:
        summary.capture_span = engine.stats.last_ts - engine.stats.first_ts
    summary.devices = len(inventory.devices)
    summary.incidents = dict(engine.book.by_rule)
    summary.quarantined = list(engine.stats.quarantined)
    summary.spooled = sum(s.pending() for s in sinks if isinstance(s, HttpSink))
    return summary


def _run_pcap(path: Path, engine: Engine, console: Console | None,
              inventory_path: Path | None) -> bool:
    capture = CaptureFile(path)
    process = engine.process_frame
    if console is None:
        for ts, wirelen, frame, linktype in capture.frames():
            process(frame, ts, linktype, wirelen)
        return capture.truncated
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("{task.fields[packets]:,} packets"), TimeRemainingColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task(path.name, total=capture.size, packets=0)
        count = 0
        last_save = time.monotonic()
        for ts, wirelen, frame, linktype in capture.frames():
            process(frame, ts, linktype, wirelen)
            count += 1
            if not count & 0x3FFF:
                progress.update(task, completed=capture.bytes_read, packets=count)
                if inventory_path is not None and time.monotonic() - last_save > _SAVE_EVERY:
                    engine.inventory.save(inventory_path)
                    last_save = time.monotonic()
        progress.update(task, completed=capture.size, packets=count)
    return capture.truncated


def _run_live(iface: str, opts: RunOptions, engine: Engine) -> int:
    from monitor.capture import LiveCapture  # scapy is loaded only for live capture

    capture = LiveCapture(iface, opts.bpf)
    if opts.on_ready is not None:
        opts.on_ready(f"listening on {iface}" + (f" (filter: {opts.bpf})" if opts.bpf else ""))
    last_save = [time.monotonic()]

    def on_frame(frame: bytes, ts: float) -> None:
        engine.process_frame(frame, ts, capture.linktype)

    def on_idle(now: float) -> None:
        engine.tick(now)
        if opts.inventory is not None and time.monotonic() - last_save[0] > _SAVE_EVERY:
            engine.inventory.save(opts.inventory)
            last_save[0] = time.monotonic()

    try:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends a live run cleanly
            capture.run(on_frame, on_idle, duration=opts.duration)
    finally:
        capture.close()
    return capture.stats.dropped
