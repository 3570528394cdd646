"""Incidents fold many detections into one alert with counts and first/last seen."""

from __future__ import annotations

from monitor.alerts import Detection
from monitor.incidents import IncidentBook
from tests.monitor import scenarios as s
from tests.monitor.conftest import Collector, run_packets


def _det(ts: float, key: str = "k") -> Detection:
    return Detection("ssh_bruteforce", ts, (key,), 70, "m", src_ip="10.0.0.1")


def test_one_incident_for_many_detections() -> None:
    sink = Collector()
    book = IncidentBook([sink], idle_seconds=300)
    for i in range(50):
        book.report(_det(1000.0 + i))
    assert [d["event"]["action"] for d in sink.docs] == ["incident-opened"]
    book.close_all()
    opened, closed = sink.docs
    assert closed["event"]["action"] == "incident-closed"
    assert closed["event"]["id"] == opened["event"]["id"]
    assert closed["zonegate"]["incident"]["count"] == 50
    assert closed["event"]["start"] == "1970-01-01T00:16:40.000Z"
    assert closed["event"]["end"] == "1970-01-01T00:17:29.000Z"


def test_idle_gap_opens_a_new_incident() -> None:
    sink = Collector()
    book = IncidentBook([sink], idle_seconds=300)
    book.report(_det(1000.0))
    book.report(_det(1000.0 + 301))
    book.close_all()
    assert [d["event"]["action"] for d in sink.docs] == ["incident-opened", "incident-opened"]
    assert sink.docs[0]["event"]["id"] != sink.docs[1]["event"]["id"]


def test_expiry_in_capture_time_closes_incidents() -> None:
    sink = Collector()
    book = IncidentBook([sink], idle_seconds=60)
    book.report(_det(0.0))
    book.report(_det(1.0))
    book.expire(30.0)
    assert len(sink.docs) == 1
    book.expire(62.0)
    assert [d["event"]["action"] for d in sink.docs] == ["incident-opened", "incident-closed"]
    assert book.open_incidents() == []


def test_different_keys_are_different_incidents() -> None:
    sink = Collector()
    book = IncidentBook([sink], idle_seconds=60)
    book.report(_det(0.0, "a"))
    book.report(_det(0.0, "b"))
    assert len(sink.docs) == 2


def test_scan_packets_become_one_incident() -> None:
    sink = run_packets(s.vertical_scan(ports=60))
    opened = sink.opened("port_scan_vertical")
    assert len(opened) == 1
    closed = [d for d in sink.docs if d["event"]["action"] == "incident-closed"]
    assert closed and closed[0]["zonegate"]["incident"]["count"] == 60 - 15 + 1
