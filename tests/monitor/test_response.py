"""The quarantine response names the host responsible and only it: routed hosts by their
IP (never the router), ARP spoofers by their MAC (never the real owner re-announcing
itself), never a trusted device or a gateway IP, and no quarantine by default for a
Modbus master nobody configured."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet

from monitor.alerts import Detection
from monitor.config import MonitorConfig
from monitor.engine import Engine
from monitor.incidents import IncidentBook
from monitor.inventory import DeviceRecord, Inventory
from monitor.quarantine import QuarantineEntry, QuarantineFile, load_quarantine
from monitor.sinks.live import LiveTable
from tests.monitor import scenarios as s
from tests.monitor.conftest import Collector

NOW = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)


def _run(tmp_path: Path, packets: list[Packet], learn: float | None = None,
         **config: Any) -> tuple[Engine, Collector, tuple[QuarantineEntry, ...]]:
    cfg = MonitorConfig.model_validate(config)
    path = tmp_path / "q.json"
    sink = Collector()
    engine = Engine(cfg, Inventory(cfg.local_networks, trusted=cfg.trusted_devices), [sink],
                    quarantine=QuarantineFile(path), learn_seconds=learn, clock=lambda: NOW)
    for pkt in packets:
        engine.process_frame(bytes(pkt), float(pkt.time))
    engine.finish()
    entries = load_quarantine(path).entries if path.exists() else ()
    return engine, sink, entries


# -- routed traffic ------------------------------------------------------------------------

@pytest.mark.parametrize(("packets", "config"), [
    # the review's repro: the router's own IP, a routed neighbour, then the routed bot
    (s.routed_mirai(), {}),
    # too few addresses to count, but the router sent from a configured gateway IP
    (s.routed_mirai(neighbour=False), {"gateway_ips": [s.GW_IP]}),
    # the bot's SYN is the router's first frame, the router is configured
    (s.routed_mirai(own=False, neighbour=False), {"routers": {"macs": [s.GW]}}),
    # a lower threshold: the router's own IP and the bot's are enough
    (s.routed_mirai(neighbour=False), {"routers": {"min_source_ips": 2}}),
], ids=["three-sources", "gateway-ip", "configured-router", "threshold-2"])
def test_routed_attack_quarantines_the_source_ip_not_the_router(
        tmp_path: Path, packets: list[Packet], config: dict[str, Any]) -> None:
    engine, sink, entries = _run(tmp_path, packets, **config)
    (doc,) = sink.opened("telnet_bruteforce")
    assert doc["source"] == {"ip": s.ROUTED_BOT}
    assert doc["device"] == {"id": "ip:" + s.ROUTED_BOT}
    assert doc["zonegate"]["evidence"]["forwarded_by"] == s.GW
    (entry,) = entries
    assert (entry.device_id, entry.mac, entry.ips) == \
        ("ip:" + s.ROUTED_BOT, None, (s.ROUTED_BOT,))
    qlist = load_quarantine(tmp_path / "q.json")
    for innocent in (s.GW_IP, s.ROUTED_NEIGHBOUR):
        assert qlist.is_quarantined(ip=innocent, now=NOW) is None
    assert qlist.is_quarantined(mac=s.GW, device_id=s.GW, now=NOW) is None
    router = engine.inventory.devices[s.GW]
    assert router.router and router.trust == "unknown"


def test_router_threshold_comes_from_configuration(tmp_path: Path) -> None:
    # with four sources required, three do not make a router: the MAC is held responsible
    engine, sink, entries = _run(tmp_path, s.routed_mirai(), routers={"min_source_ips": 4})
    assert sink.opened("telnet_bruteforce")[0]["source"]["mac"] == s.GW
    assert [e.device_id for e in entries] == [s.GW]
    assert not engine.inventory.devices[s.GW].router


def test_a_router_keeps_no_routed_address_and_the_flag_is_saved(tmp_path: Path) -> None:
    engine, _sink, _entries = _run(tmp_path, s.routed_mirai(), gateway_ips=[s.GW_IP])
    inv = engine.inventory
    assert inv.devices[s.GW].ips == {s.GW_IP}
    for routed_ip in (s.ROUTED_BOT, s.ROUTED_NEIGHBOUR):
        assert inv.device_for(None, routed_ip) is None
    inv.save(tmp_path / "inv.json")
    again = Inventory(("10.0.0.0/8",))
    again.load(tmp_path / "inv.json")
    assert again.devices[s.GW].router


@pytest.mark.parametrize(("sources", "step"), [
    # a DHCP lease change: two addresses, below the threshold of three
    (["10.0.0.13", "10.0.0.14"], 1.0),
    # DHCP discover and link-local sources are not the host's own addresses: not counted
    (["0.0.0.0", "169.254.7.7", "10.0.0.13"], 1.0),
    # IPv6 counts /64 prefixes (privacy addresses share one), link-local not counted
    (["fe80::212:12ff:fe00:d", "fd00::13", "fd00::14", "fd00::15"], 1.0),
    # three addresses, but spread over more than the window
    (["10.0.0.13", "10.0.0.14", "10.0.0.15"], 2000.0),
], ids=["lease-change", "link-local-v4", "one-v6-prefix", "outside-window"])
def test_a_terminal_stays_a_terminal(tmp_path: Path, sources: list[str], step: float) -> None:
    packets = []
    for i, ip in enumerate(sources):
        layer = IPv6(src=ip, dst="fd00::1") if ":" in ip else IP(src=ip, dst="10.0.0.1")
        packets.append(s.at(Ether(src=s.CAM, dst=s.GW) / layer / TCP(dport=80, flags="S"),
                            s.T0 + i * step))
    engine, _sink, _entries = _run(tmp_path, packets)
    assert not engine.inventory.devices[s.CAM].router


def test_a_gateway_ip_is_never_quarantined(tmp_path: Path) -> None:
    target = "10.0.0.77"
    seq = int.from_bytes(bytes(int(p) for p in target.split(".")), "big")
    packets = [s.tcp(s.GW_IP, target, 44444, 23, "S", s.T0, seq=seq)]
    engine, sink, entries = _run(tmp_path, packets, gateway_ips=[s.GW_IP])
    assert sink.opened("telnet_bruteforce")  # still reported
    assert entries == ()
    assert engine.response.spared == {"gateway-ip": 1}


def test_a_trusted_device_is_never_quarantined(tmp_path: Path) -> None:
    engine, sink, entries = _run(tmp_path, s.mirai_syn(), trusted_devices=[s.CAM])
    assert sink.opened("telnet_bruteforce")[0]["event"]["severity"] == 90  # still reported
    assert entries == ()
    assert engine.inventory.devices[s.CAM].trust == "trusted"
    assert engine.response.spared == {"trusted": 1}


def test_a_terminal_is_quarantined_with_its_recent_addresses_only(tmp_path: Path) -> None:
    # the camera had 10.0.0.12 in an earlier run (saved inventory), uses 10.0.0.13 now
    inv_path = tmp_path / "inv.json"
    old = Inventory(("10.0.0.0/8",))
    old.devices[s.CAM] = DeviceRecord(s.CAM, s.CAM, 0.0, 0.0, ips={"10.0.0.12"})
    old.save(inv_path)
    cfg = MonitorConfig()
    inventory = Inventory(cfg.local_networks)
    inventory.load(inv_path)
    path = tmp_path / "q.json"
    engine = Engine(cfg, inventory, [], quarantine=QuarantineFile(path), clock=lambda: NOW)
    for pkt in s.mirai_syn():
        engine.process_frame(bytes(pkt), float(pkt.time))
    engine.finish()
    (entry,) = load_quarantine(path).entries
    assert (entry.device_id, entry.mac, entry.ips) == (s.CAM, s.CAM, (s.CAM_IP,))


# -- ARP: the established owner is never the spoofer ---------------------------------------

@pytest.mark.parametrize("config", [{}, {"gateway_ips": [s.GW_IP]}], ids=["plain", "gateway"])
def test_arp_owner_flipping_back_is_not_blamed(tmp_path: Path, config: dict[str, Any]) -> None:
    _engine, sink, entries = _run(tmp_path, s.arp_flip_back(), **config)
    opened = sink.opened("arp_spoof")
    assert [d["source"] for d in opened] == [{"ip": s.GW_IP, "mac": s.EVIL}]
    closed = [d for d in sink.docs if d["event"]["action"] == "incident-closed"]
    assert [d["zonegate"]["incident"]["count"] for d in closed] == [2]
    assert [(e.mac, e.ips) for e in entries] == [(s.EVIL, ())]


@pytest.mark.parametrize("config", [
    {"detectors": {"arp_spoof": {"known_bindings": {s.GW_IP: s.GW}}}},
    {"trusted_devices": [s.GW]},
], ids=["known-binding", "trusted-owner"])
def test_spoofer_seen_first_does_not_become_the_owner(tmp_path: Path,
                                                      config: dict[str, Any]) -> None:
    # the monitor starts mid-attack: the spoofer's claim is the first one it sees
    packets = s.arp_flip_back()[2:]  # EVIL, GW, EVIL
    _engine, sink, entries = _run(tmp_path, packets, **config)
    assert {d["source"]["mac"] for d in sink.opened("arp_spoof")} == {s.EVIL}
    assert [e.mac for e in entries] == [s.EVIL]


@pytest.mark.parametrize(("gateway", "alerts"), [(False, 0), (True, 1)])
def test_arp_rebind_after_the_owner_went_silent(tmp_path: Path, gateway: bool,
                                                alerts: int) -> None:
    ip = s.GW_IP
    packets = [s._arp(s.GW, ip, s.T0), s._arp(s.EVIL, ip, s.T0 + 4000)]
    _engine, sink, _entries = _run(tmp_path, packets, gateway_ips=[ip] if gateway else [])
    assert len(sink.opened("arp_spoof")) == alerts


# -- Modbus: no quarantine of an unconfigured master by default ----------------------------

@pytest.mark.parametrize(("config", "learn", "severity", "quarantined"), [
    ({}, None, 60, False),
    ({}, 30.0, 60, False),  # learning, but the master did not write in the window
    ({"detectors": {"modbus_write": {"masters": ["10.0.0.5"]}}}, None, 80, True),
], ids=["no-masters", "learning-no-masters", "masters-configured"])
def test_modbus_write_severity_depends_on_configured_masters(
        tmp_path: Path, config: dict[str, Any], learn: float | None, severity: int,
        quarantined: bool) -> None:
    packets = s.modbus("10.0.0.5", write=False) + s.modbus("10.0.0.99", write=True,
                                                           ts=s.T0 + 100)
    _engine, sink, entries = _run(tmp_path, packets, learn=learn, **config)
    (doc,) = sink.opened("modbus_write")
    assert doc["event"]["severity"] == severity
    assert bool(entries) is quarantined


# -- the live table shows counts while an incident is open ---------------------------------

def test_live_table_shows_the_count_of_an_open_incident() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120, color_system=None)
    table = LiveTable(console)
    ndjson_like = Collector()
    book = IncidentBook([table, ndjson_like], idle_seconds=300)
    try:
        for i in range(5):
            book.report(Detection("ssh_bruteforce", 1000.0 + i, ("k",), 70, "m",
                                  src_ip="10.0.0.1"))
        table.refresh()
        rows = [line for line in screen.getvalue().splitlines() if "ssh_bruteforce" in line]
        cells = [c.strip() for c in rows[-1].split("│")]
        assert cells[5] == "5"
        assert len(ndjson_like.docs) == 1  # the other sinks: still one record per opening
    finally:
        table.close()
    assert json.dumps(ndjson_like.docs[0]["zonegate"]["incident"]) == '{"count": 1}'
