"""The shipped capture (gateway/demo/data/edge.pcap) still tells the demo's story."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.demo import make_capture
from gateway.demo.files import StateFiles, shipped_capture, write_monitor_config
from monitor.config import load_monitor_config
from monitor.runner import RunOptions, run


def test_make_capture_rebuilds_the_shipped_file_byte_for_byte(tmp_path: Path) -> None:
    rebuilt = make_capture.build(tmp_path / "edge.pcap")
    assert rebuilt.read_bytes() == shipped_capture().read_bytes()


def test_the_monitor_flags_and_quarantines_the_camera_only(tmp_path: Path) -> None:
    files = StateFiles(tmp_path)
    write_monitor_config(files)
    opts = RunOptions(pcap=shipped_capture(), alerts_out=files.alerts,
                      inventory=files.inventory, quarantine_file=files.quarantine)
    summary = run(opts, load_monitor_config(files.monitor_config))

    assert summary.incidents.get("telnet_bruteforce") == 1
    assert set(summary.quarantined) == {make_capture.CAMERA_MAC}
    entries = json.loads(files.quarantine.read_text(encoding="utf-8"))["devices"]
    assert [(e["device_id"], e["ips"], e["rule_id"]) for e in entries] == [
        (make_capture.CAMERA_MAC, [make_capture.CAMERA_IP], "telnet_bruteforce")]
    alerts = [json.loads(line) for line in files.alerts.read_text().splitlines()]
    sources = {a["source"]["ip"] for a in alerts}
    assert sources == {make_capture.CAMERA_IP}  # the sensor's reports raise nothing
