"""The run wiring on a terminal: progress bar, live incident table, periodic output."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from scapy.utils import wrpcap

from monitor.config import MonitorConfig
from monitor.runner import RunOptions, run
from tests.monitor import scenarios as s


def test_terminal_run_shows_progress_and_incident_table(tmp_path: Path) -> None:
    pcap = tmp_path / "in.pcap"
    wrpcap(str(pcap), s.mirai_syn() + s.vertical_scan())
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120, color_system=None)
    summary = run(RunOptions(pcap=pcap, live_table=True, progress=True), MonitorConfig(),
                  console)
    text = screen.getvalue()
    assert "zonegate monitor: incidents" in text
    assert "port_scan_vertical" in text and "telnet_bruteforce" in text
    assert summary.packets == 41 and summary.incidents == {"port_scan_vertical": 1,
                                                           "telnet_bruteforce": 1}
    assert summary.capture_span > 0


def test_truncated_capture_is_reported(tmp_path: Path) -> None:
    pcap = tmp_path / "in.pcap"
    wrpcap(str(pcap), s.vertical_scan())
    pcap.write_bytes(pcap.read_bytes()[:-7])
    summary = run(RunOptions(pcap=pcap), MonitorConfig())
    assert summary.truncated_file
    assert summary.packets == 39
