"""The device inventory: fingerprints, names, persistence across restarts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scapy.layers.dns import DNS, DNSRR
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from monitor.config import MonitorConfig
from monitor.engine import Engine
from monitor.errors import InventoryError
from monitor.inventory import Inventory
from monitor.oui import vendor_for
from tests.monitor import scenarios as s


def _run(packets: list, inventory: Inventory | None = None, learn: float | None = None
         ) -> Inventory:
    cfg = MonitorConfig()
    inv = inventory or Inventory(cfg.local_networks)
    engine = Engine(cfg, inv, [], learn_seconds=learn)
    for pkt in packets:
        engine.process_frame(bytes(pkt), float(pkt.time))
    engine.finish()
    return inv


@pytest.mark.parametrize(("mac", "vendor"), [
    ("00:12:12:00:00:0d", "Hikvision"),
    ("B8:27:EB:01:02:03", "Raspberry Pi Foundation"),
    ("02:12:12:00:00:0d", None),   # locally administered: ignored
    ("00:00:01:00:00:00", None),
])
def test_vendor_from_oui(mac: str, vendor: str | None) -> None:
    assert vendor_for(mac.lower()) == vendor


def test_device_facts() -> None:
    mdns = s.at(Ether(src=s.CAM, dst="01:00:5e:00:00:fb") / IP(src=s.CAM_IP, dst="224.0.0.251")
                / UDP(sport=5353, dport=5353) / DNS(qr=1, aa=1, an=DNSRR(
                    rrname="cam-lobby.local", type="A", rdata=s.CAM_IP)), s.T0 + 2)
    ssdp = s.at(Ether(src=s.CAM, dst="01:00:5e:7f:ff:fa") / IP(src=s.CAM_IP, dst="239.255.255.250")
                / UDP(sport=1900, dport=1900) / Raw(
                    b"NOTIFY * HTTP/1.1\r\nSERVER: Linux UPnP/1.0 DS-2CD2143\r\n\r\n"), s.T0 + 3)
    packets = [s.dhcp_request(s.T0), mdns, ssdp, *s.mqtt_session(b"u"),
               *s.handshake(s.BROKER_IP, s.CAM_IP, 1883, 554, s.T0 + 4)]
    inv = _run(packets)
    cam = inv.devices[s.CAM]
    assert cam.vendor == "Hikvision"
    assert (cam.dhcp_hostname, cam.dhcp_vendor_class, cam.dhcp_fingerprint) == \
        ("cam-lobby", "hikvision-ipc", "1,3,6,12,15,28,42")
    assert cam.names == {"mdns:cam-lobby.local", "ssdp:Linux UPnP/1.0 DS-2CD2143"}
    assert {"mqtt", "dhcp", "mdns", "ssdp", "tcp/1883"} <= cam.protocols
    assert cam.services == {"tcp/554"}
    assert cam.peers == {s.BROKER_IP}
    assert cam.ips == {s.CAM_IP}
    assert cam.packets_out > 0 and cam.bytes_in > 0
    assert inv.by_ip[s.CAM_IP] == s.CAM
    assert "ff:ff:ff:ff:ff:ff" not in inv.devices


def test_survives_restart_with_baseline(tmp_path: Path) -> None:
    path = tmp_path / "inventory.json"
    inv = _run(s.learned_then(None), learn=120.0)
    assert inv.devices[s.CAM].baselined
    inv.save(path)
    assert not list(tmp_path.glob(".*.tmp"))
    cfg = MonitorConfig()
    again = Inventory(cfg.local_networks)
    again.load(path)
    cam = again.devices[s.CAM]
    assert cam.baselined and f"{s.BROKER_IP}:1883/tcp" in cam.baseline
    assert cam.first_seen == inv.devices[s.CAM].first_seen
    # the restored baseline drives new_destination in the next run, with no learning
    from tests.monitor.conftest import Collector

    sink = Collector()
    engine = Engine(cfg, again, [sink])
    for pkt in s.handshake(s.CAM_IP, "203.0.113.9", 1, 4444, s.T0 + 9000):
        engine.process_frame(bytes(pkt), float(pkt.time))
    engine.finish()
    assert [d["rule"]["id"] for d in sink.opened()] == ["new_destination"]


@pytest.mark.parametrize(("content", "message"), [
    ("{", "not a readable inventory"),
    ('{"version": 9, "devices": []}', "expected"),
    ('{"version": 1, "devices": [{"device_id": 1}]}', r"devices\[0\]"),
    ('{"version": 1, "devices": [{"device_id": "x", "mac": null, "first_seen": 1, '
     '"last_seen": 2, "trust": "maybe"}]}', "trust"),
])
def test_malformed_inventory(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "inv.json"
    path.write_text(content)
    with pytest.raises(InventoryError, match=message):
        Inventory(()).load(path)
    assert path.read_text() == content  # never overwritten


def test_device_limit_bounds_memory() -> None:
    inv = Inventory(("10.0.0.0/8",), max_devices=10)
    packets = [s.at(Ether(src=f"00:0b:57:00:00:{i:02x}", dst=s.GW) / IP(src=f"10.0.5.{i}",
                                                                      dst=s.GW_IP), s.T0 + i)
               for i in range(30)]
    _run(packets, inv)
    assert len(inv.devices) == 10 and inv.refused_devices == 20


def test_trusted_devices_from_config(tmp_path: Path) -> None:
    inv = Inventory(("10.0.0.0/8",), trusted=[s.CAM])
    _run(s.mirai_syn(), inv)
    assert inv.devices[s.CAM].trust == "trusted"
    saved = tmp_path / "i.json"
    inv.save(saved)
    assert json.loads(saved.read_text())["devices"][0]["trust"] == "trusted"
