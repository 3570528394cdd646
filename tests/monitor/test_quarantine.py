"""The quarantine file: the exact format the gateway reads, expiry, malformed files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from monitor.config import MonitorConfig
from monitor.engine import Engine
from monitor.errors import MonitorError, QuarantineError
from monitor.inventory import Inventory
from monitor.quarantine import QuarantineEntry, QuarantineFile, load_quarantine
from tests.monitor import scenarios as s

NOW = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)


def _write(path: Path, devices: list[dict[str, object]], version: int = 1) -> Path:
    path.write_text(json.dumps({"version": version, "devices": devices}))
    return path


def _device(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "device_id": "aa:bb:cc:dd:ee:ff", "mac": "aa:bb:cc:dd:ee:ff", "ips": ["10.0.0.13"],
        "reason": "telnet_bruteforce", "rule_id": "telnet_bruteforce",
        "since": "2026-11-25T07:00:00Z", "until": "2026-11-25T09:00:00Z", "source": "monitor"}
    base.update(over)
    return base


@pytest.mark.parametrize(("query", "hit"), [
    ({"device_id": "aa:bb:cc:dd:ee:ff"}, True),
    ({"mac": "AA:BB:CC:DD:EE:FF"}, True),
    ({"ip": "10.0.0.13"}, True),
    ({"ip": "10.0.0.14"}, False),
    ({"device_id": "other"}, False),
    ({}, False),
])
def test_lookup(tmp_path: Path, query: dict[str, str], hit: bool) -> None:
    qlist = load_quarantine(_write(tmp_path / "q.json", [_device()]))
    entry = qlist.is_quarantined(**query, now=NOW)
    assert (entry is not None) is hit
    if entry is not None:
        assert entry.reason == "telnet_bruteforce"


@pytest.mark.parametrize(("until", "active"), [
    ("2026-11-25T07:59:59Z", False),
    ("2026-11-25T08:00:00Z", False),
    ("2026-11-25T08:00:01+00:00", True),
    (None, True),
])
def test_expired_entries_are_ignored(tmp_path: Path, until: str | None, active: bool) -> None:
    qlist = load_quarantine(_write(tmp_path / "q.json", [_device(until=until)]))
    assert (qlist.is_quarantined(ip="10.0.0.13", now=NOW) is not None) is active


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "not valid JSON"),
    ("[]", "top level must be an object"),
    ('{"version": 2, "devices": []}', "version must be 1"),
    ('{"version": 1}', "devices must be a list"),
    ('{"version": 1, "devices": [5]}', r"devices\[0\]: must be an object"),
])
def test_malformed_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "q.json"
    path.write_text(content)
    with pytest.raises(MonitorError, match=message):
        load_quarantine(path)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("since", "yesterday", "not an RFC 3339 time"),
    ("since", "2026-11-25T07:00:00", "needs a UTC offset"),
    ("until", 5, "must be an RFC 3339 string"),
    ("ips", "10.0.0.1", "must be a list of strings"),
    ("device_id", "", "must be a non-empty string"),
    ("extra", 1, "unknown key"),
])
def test_malformed_entries(tmp_path: Path, field: str, value: object, message: str) -> None:
    path = _write(tmp_path / "q.json", [_device(**{field: value})])
    with pytest.raises(QuarantineError, match=message):
        load_quarantine(path)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(QuarantineError, match="cannot read"):
        load_quarantine(tmp_path / "absent.json")


def test_writer_merges_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "q.json"
    qfile = QuarantineFile(path)
    qfile.add(QuarantineEntry("aa:bb:cc:dd:ee:ff", "aa:bb:cc:dd:ee:ff", ("10.0.0.13",),
                              "arp_spoof", "arp_spoof", NOW, NOW + dt.timedelta(hours=1)))
    qfile.add(QuarantineEntry("aa:bb:cc:dd:ee:ff", "aa:bb:cc:dd:ee:ff", ("10.0.0.14",),
                              "arp_spoof", "arp_spoof", NOW, NOW + dt.timedelta(hours=2)))
    raw = json.loads(path.read_text())
    assert raw == {"version": 1, "devices": [{
        "device_id": "aa:bb:cc:dd:ee:ff", "mac": "aa:bb:cc:dd:ee:ff",
        "ips": ["10.0.0.13", "10.0.0.14"], "reason": "arp_spoof", "rule_id": "arp_spoof",
        "since": "2026-11-25T08:00:00Z", "until": "2026-11-25T10:00:00Z", "source": "monitor"}]}
    assert not list(tmp_path.glob("*.tmp"))
    again = QuarantineFile(path)
    assert again.entries() == qfile.entries()


def _engine(path: Path, **quarantine: object) -> Engine:
    cfg = MonitorConfig.model_validate({"response": {"quarantine": quarantine}})
    return Engine(cfg, Inventory(cfg.local_networks), [], quarantine=QuarantineFile(path),
                  clock=lambda: NOW)


def test_severe_alert_quarantines_the_device(tmp_path: Path) -> None:
    path = tmp_path / "q.json"
    engine = _engine(path, min_severity=80, duration_seconds=600)
    for pkt in s.mirai_syn():
        engine.process_frame(bytes(pkt), float(pkt.time))
    engine.finish()
    entry = load_quarantine(path).is_quarantined(ip=s.CAM_IP, now=NOW)
    assert entry is not None
    assert (entry.device_id, entry.mac, entry.rule_id, entry.until) == \
        (s.CAM, s.CAM, "telnet_bruteforce", NOW + dt.timedelta(seconds=600))
    assert engine.inventory.devices[s.CAM].trust == "quarantined"


@pytest.mark.parametrize("policy", [
    {"min_severity": 95},
    {"rules": ["arp_spoof"]},
    {"enabled": False},
])
def test_response_policy_is_configurable(tmp_path: Path, policy: dict[str, object]) -> None:
    path = tmp_path / "q.json"
    engine = _engine(path, **policy)
    for pkt in s.mirai_syn():
        engine.process_frame(bytes(pkt), float(pkt.time))
    engine.finish()
    assert not path.exists()


def test_arp_spoofer_is_quarantined_not_the_gateway_ip(tmp_path: Path) -> None:
    path = tmp_path / "q.json"
    engine = _engine(path)
    for pkt in s.arp_spoof_gateway():
        engine.process_frame(bytes(pkt), float(pkt.time))
    engine.finish()
    (entry,) = load_quarantine(path).entries
    assert entry.mac == s.EVIL and s.GW_IP not in entry.ips
