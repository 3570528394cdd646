"""`zonegate monitor run` end to end on pcaps, through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scapy.utils import wrpcap

from gateway.cli import main
from monitor.quarantine import load_quarantine
from tests.monitor import scenarios as s

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "monitor"


def _pcap(tmp_path: Path, packets: list) -> Path:
    path = tmp_path / "in.pcap"
    wrpcap(str(path), packets)
    return path


def _alerts(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_run_pcap_writes_alerts_inventory_and_quarantine(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pcap = _pcap(tmp_path, s.mirai_syn() + s.vertical_scan())
    out, inv, quar = tmp_path / "a.ndjson", tmp_path / "inv.json", tmp_path / "q.json"
    code = main(["monitor", "run", "--pcap", str(pcap), "--alerts-out", str(out),
                 "--inventory", str(inv), "--quarantine-file", str(quar), "--no-live-table"])
    assert code == 0
    opened = [a for a in _alerts(out) if a["event"]["action"] == "incident-opened"]  # type: ignore[index]
    assert sorted(a["rule"]["id"] for a in opened) == \
        ["port_scan_vertical", "telnet_bruteforce"]  # type: ignore[index]
    devices = {d["device_id"] for d in json.loads(inv.read_text())["devices"]}
    assert devices == {s.CAM, s.mac("10.0.0.50")}  # the Mirai target never answered
    assert load_quarantine(quar).is_quarantined(mac=s.CAM) is not None
    printed = capsys.readouterr().out
    assert "incidents: port_scan_vertical=1, telnet_bruteforce=1" in printed


def test_learn_window_from_cli(tmp_path: Path) -> None:
    pcap = _pcap(tmp_path, s.learned_then("203.0.113.9"))
    out = tmp_path / "a.ndjson"
    assert main(["monitor", "run", "--pcap", str(pcap), "--alerts-out", str(out),
                 "--learn", "120", "--no-live-table"]) == 0
    assert [a["rule"]["id"] for a in _alerts(out)] == ["new_destination"]  # type: ignore[index]
    out.unlink()
    assert main(["monitor", "run", "--pcap", str(pcap), "--alerts-out", str(out),
                 "--learn", "100000", "--no-live-table"]) == 0
    assert out.read_text() == ""


def test_shipped_vectors_replay(tmp_path: Path) -> None:
    expected = json.loads((VECTORS / "expected.json").read_text())
    for name, rules in expected.items():
        out = tmp_path / f"{name}.ndjson"
        assert main(["monitor", "run", "--pcap", str(VECTORS / name), "--alerts-out", str(out),
                     "--no-live-table"]) == 0
        got = sorted({a["rule"]["id"] for a in _alerts(out)})  # type: ignore[index]
        assert got == rules, name


@pytest.mark.parametrize(("args", "message"), [
    (["--pcap", "/nonexistent.pcap"], "cannot read capture"),
    ([], "exactly one of --iface"),
    (["--pcap", "x", "--iface", "lo"], "exactly one of --iface"),
    (["--pcap", "x", "--learn", "-5"], "--learn must be >= 0"),
    (["--pcap", "x", "--cef-syslog", "nohost"], "--cef-syslog must be HOST:PORT"),
    (["--pcap", "x", "--alerts-url", "ftp://x"], "must be an http(s) URL"),
    (["--iface", "zg-no-such-if0", "--duration", "1"], "cannot capture on"),
])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         args: list[str], message: str) -> None:
    pcap = _pcap(tmp_path, s.mirai_syn())
    args = [str(pcap) if a == "x" else a for a in args]
    assert main(["monitor", "run", "--no-live-table", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("zonegate: error: ") and message in err
    assert "\n" not in err


def test_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "m.yaml"
    cfg.write_text("detectors: {nope: {}}\n")
    pcap = _pcap(tmp_path, s.mirai_syn())
    assert main(["monitor", "run", "--pcap", str(pcap), "--config", str(cfg)]) == 2
    assert "m.yaml: detectors.nope: unknown key" in capsys.readouterr().err


def test_malformed_inventory_is_not_overwritten(tmp_path: Path) -> None:
    inv = tmp_path / "inv.json"
    inv.write_text("{broken")
    pcap = _pcap(tmp_path, s.mirai_syn())
    assert main(["monitor", "run", "--pcap", str(pcap), "--inventory", str(inv),
                 "--no-live-table"]) == 2
    assert inv.read_text() == "{broken"


def test_malformed_quarantine_file_stops_the_run(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    quar = tmp_path / "q.json"
    quar.write_text('{"version": 1, "devices": [{"device_id": 5}]}')
    pcap = _pcap(tmp_path, s.mirai_syn())
    assert main(["monitor", "run", "--pcap", str(pcap), "--quarantine-file", str(quar),
                 "--no-live-table"]) == 2
    assert "devices[0].device_id: must be a non-empty string" in capsys.readouterr().err
    assert quar.read_text() == '{"version": 1, "devices": [{"device_id": 5}]}'


def test_alerts_url_spools_when_control_plane_is_down(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    spool = tmp_path / "spool.ndjson"
    pcap = _pcap(tmp_path, s.mirai_syn())
    assert main(["monitor", "run", "--pcap", str(pcap), "--alerts-url",
                 f"http://127.0.0.1:{port}/alerts", "--spool", str(spool),
                 "--no-live-table"]) == 0
    assert [json.loads(x)["rule"]["id"] for x in spool.read_text().splitlines()] == \
        ["telnet_bruteforce"]


def test_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["monitor", "run", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--iface", "--pcap", "--alerts-out", "--learn", "--config", "--inventory",
                   "--quarantine-file", "--alerts-url", "--spool", "--ocsf-out",
                   "--cef-syslog", "--bpf", "--duration"):
        assert option in text
