"""Every detector: crafted attack traffic raises exactly its alert; benign look-alikes stay
silent. Packets are built with scapy and run through the real engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from scapy.packet import Packet

from tests.monitor import scenarios as s
from tests.monitor.conftest import make_config, run_packets

Case = tuple[str, Callable[[], list[Packet]], dict[str, Any], float | None, dict[str, int]]

ATTACKS: list[Case] = [
    ("horizontal", s.horizontal_scan, {}, None, {"port_scan_horizontal": 1}),
    ("vertical", s.vertical_scan, {}, None, {"port_scan_vertical": 1}),
    ("vertical-udp", s.udp_scan, {}, None, {"port_scan_vertical": 1}),
    ("telnet", s.telnet_bruteforce, {}, None, {"telnet_bruteforce": 1}),
    ("telnet-2323", lambda: s.telnet_bruteforce(port=2323), {}, None,
     {"telnet_bruteforce": 1}),
    ("mirai", s.mirai_syn, {}, None, {"telnet_bruteforce": 1}),
    ("ssh", s.ssh_bruteforce, {}, None, {"ssh_bruteforce": 1}),
    ("new-destination", lambda: s.learned_then("203.0.113.9"), {}, 120.0,
     {"new_destination": 1}),
    ("dga-entropy", s.dga_lookups, {}, None, {"dns_dga": 1}),
    ("dga-nxdomain", s.nxdomain_burst, {}, None, {"dns_dga": 1}),
    ("tunnel-long-label", s.dns_long_label, {}, None, {"dns_tunnel": 1}),
    ("tunnel-subdomains", s.dns_many_subdomains, {}, None, {"dns_tunnel": 1}),
    ("tunnel-txt", s.dns_txt, {}, None, {"dns_tunnel": 1}),
    ("volume", lambda: s.traffic(12, 10_000, spike_minute=10, spike_bytes=3_000_000), {}, None,
     {"volume_spike": 1}),
    ("beacon", s.beacon, {}, None, {"beaconing": 1}),
    ("arp-gateway", s.arp_spoof_gateway, {}, None, {"arp_spoof": 1}),
    ("rogue-dhcp", lambda: [s.dhcp_offer("10.0.0.66")],
     {"rogue_dhcp": {"allowed_servers": ["10.0.0.1"]}}, None, {"rogue_dhcp": 1}),
    ("rogue-dhcp-second-server", lambda: [s.dhcp_offer("10.0.0.1"),
                                          s.dhcp_offer("10.0.0.66", s.T0 + 5)],
     {}, None, {"rogue_dhcp": 1}),
    ("mqtt-anonymous", lambda: s.mqtt_session(None), {}, None, {"mqtt_anonymous": 1}),
    ("mqtt-wildcard", lambda: s.mqtt_session(b"u", topic=b"#"), {}, None,
     {"mqtt_wildcard_subscribe": 1, "cleartext_credentials": 1}),
    ("mqtt-sys", lambda: s.mqtt_session(b"u", port=8883, topic=b"$SYS/#"), {}, None,
     {"mqtt_wildcard_subscribe": 1}),
    ("coap", s.coap_reflection, {}, None, {"coap_amplification": 1}),
    ("modbus", lambda: s.modbus("10.0.0.99", write=True),
     {"modbus_write": {"masters": ["10.0.0.5"]}}, None, {"modbus_write": 1}),
    ("telnet-login", s.telnet_login, {}, None, {"cleartext_credentials": 1}),
    ("ftp-login", s.ftp_login, {}, None, {"cleartext_credentials": 1}),
    ("http-basic", lambda: s.http_request(auth=True), {}, None, {"cleartext_credentials": 1}),
    ("mqtt-password", lambda: s.mqtt_session(b"meter"), {}, None,
     {"cleartext_credentials": 1}),
]

BENIGN: list[tuple[str, Callable[[], list[Packet]], dict[str, Any], float | None]] = [
    ("cdn-many-addresses", s.cdn_lookalike, {}, None),
    ("busy-client", s.busy_client_lookalike, {}, None),
    ("few-telnet", lambda: s.few_logins(23), {}, None),
    ("few-ssh", lambda: s.few_logins(22), {}, None),
    ("learned-destination", lambda: s.learned_then(None), {}, 120.0),
    ("new-destination-while-learning", lambda: s.learned_then("203.0.113.9"),
     {}, 10_000.0),
    ("normal-dns", s.normal_lookups, {}, None),
    ("steady-volume", lambda: s.traffic(12, 10_000), {}, None),
    ("small-bump", lambda: s.traffic(12, 10_000, spike_minute=10, spike_bytes=200_000), {},
     None),
    ("irregular", s.irregular_connections, {}, None),
    ("mqtt-heartbeat", s.mqtt_heartbeat, {}, None),
    ("beacon-to-learned", lambda: s.learned_then(None) + s.beacon(dest=s.BROKER_IP), {}, None),
    ("arp-steady", s.arp_steady, {}, None),
    ("allowed-dhcp", lambda: [s.dhcp_offer("10.0.0.1")],
     {"rogue_dhcp": {"allowed_servers": ["10.0.0.1"]}}, None),
    ("learned-dhcp", lambda: [s.dhcp_offer("10.0.0.66")], {}, 60.0),
    ("mqtt-anonymous-refused", lambda: s.mqtt_session(None, retcode=5), {}, None),
    ("mqtt-tls-user", lambda: s.mqtt_session(b"u", port=8883, topic=b"sensors/+/temp"), {},
     None),
    ("coap-normal", s.coap_normal, {}, None),
    ("modbus-master", lambda: s.modbus("10.0.0.5", write=True),
     {"modbus_write": {"masters": ["10.0.0.5"]}}, None),
    ("modbus-read", lambda: s.modbus("10.0.0.99", write=False), {}, None),
    ("modbus-learned-master", lambda: s.modbus("10.0.0.99", write=True)
     + s.modbus("10.0.0.99", write=True, ts=s.T0 + 100), {}, 60.0),
    ("http-no-auth", lambda: s.http_request(auth=False), {}, None),
]


def _opened(docs: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for doc in docs:
        if doc["event"]["action"] == "incident-opened":
            out[doc["rule"]["id"]] = out.get(doc["rule"]["id"], 0) + 1
    return out


@pytest.mark.parametrize(("name", "build", "overrides", "learn", "expected"), ATTACKS,
                         ids=[c[0] for c in ATTACKS])
def test_attack_raises_exactly_its_alert(name: str, build: Callable[[], list[Packet]],
                                         overrides: dict[str, Any], learn: float | None,
                                         expected: dict[str, int]) -> None:
    sink = run_packets(build(), make_config(**overrides), learn=learn)
    assert _opened(sink.docs) == expected


@pytest.mark.parametrize(("name", "build", "overrides", "learn"), BENIGN,
                         ids=[c[0] for c in BENIGN])
def test_benign_lookalike_stays_silent(name: str, build: Callable[[], list[Packet]],
                                       overrides: dict[str, Any], learn: float | None) -> None:
    sink = run_packets(build(), make_config(**overrides), learn=learn)
    assert sink.docs == []


def test_mirai_evidence_and_severity() -> None:
    sink = run_packets(s.mirai_syn())
    (doc,) = sink.opened("telnet_bruteforce")
    assert doc["zonegate"]["evidence"]["mirai_signature"] is True
    assert doc["event"]["severity"] == 90
    assert doc["destination"] == {"ip": "10.0.0.77", "port": 23}


def test_arp_spoof_names_claimed_ip_and_spoofing_mac() -> None:
    sink = run_packets(s.arp_spoof_gateway(), make_config())
    (doc,) = sink.opened("arp_spoof")
    assert doc["source"] == {"ip": s.GW_IP, "mac": s.EVIL}
    assert doc["zonegate"]["evidence"]["previous_mac"] == s.GW


def test_gateway_claim_uses_gateway_severity() -> None:
    from monitor.config import MonitorConfig

    cfg = MonitorConfig.model_validate({"gateway_ips": [s.GW_IP]})
    (doc,) = run_packets(s.arp_spoof_gateway(), cfg).opened("arp_spoof")
    assert doc["event"]["severity"] == 90
    assert doc["zonegate"]["evidence"]["gateway"] is True


def test_rogue_dhcp_source_is_the_rogue_server() -> None:
    sink = run_packets([s.dhcp_offer("10.0.0.66")],
                       make_config(rogue_dhcp={"allowed_servers": ["10.0.0.1"]}))
    (doc,) = sink.opened("rogue_dhcp")
    assert doc["source"]["ip"] == "10.0.0.66"


def test_mqtt_anonymous_points_at_client_and_broker() -> None:
    (doc,) = run_packets(s.mqtt_session(None)).opened("mqtt_anonymous")
    assert doc["source"]["ip"] == s.CAM_IP
    assert doc["destination"] == {"ip": s.BROKER_IP, "port": 1883}
    assert doc["network"]["transport"] == "tcp"


def test_credentials_never_leak_the_secret() -> None:
    packets = s.http_request(auth=True) + s.ftp_login() + s.telnet_login() + \
        s.mqtt_session(b"meter")
    sink = run_packets(packets)
    text = repr(sink.docs)
    for secret in ("12345", "ftp-pw-991", "p4ss", "YWRtaW46MTIzNDU"):
        assert secret not in text
    users = {d["zonegate"]["evidence"]["protocol"]: d["zonegate"]["evidence"]["username"]
             for d in sink.opened("cleartext_credentials")}
    assert users == {"http": "admin", "ftp": "upload", "telnet": None, "mqtt": "meter"}


@pytest.mark.parametrize(("rule", "build", "overrides"), [
    ("port_scan_horizontal", s.horizontal_scan, {"port_scan_horizontal": {"hosts": 40}}),
    ("port_scan_vertical", s.vertical_scan, {"port_scan_vertical": {"ports": 25}}),
    ("telnet_bruteforce", s.telnet_bruteforce, {"telnet_bruteforce": {"attempts": 20}}),
    ("dns_dga", s.dga_lookups, {"dns_dga": {"suspicious_names": 20}}),
    ("beaconing", s.beacon, {"beaconing": {"max_jitter": 0.001}}),
    ("volume_spike", lambda: s.traffic(12, 10_000, spike_minute=10, spike_bytes=3_000_000),
     {"volume_spike": {"floor_bytes": 5_000_000}}),
    ("coap_amplification", s.coap_reflection, {"coap_amplification": {"ratio": 1000}}),
    ("mqtt_anonymous", lambda: s.mqtt_session(None), {"mqtt_anonymous": {"enabled": False}}),
])
def test_thresholds_come_from_configuration(rule: str, build: Callable[[], list[Packet]],
                                            overrides: dict[str, Any]) -> None:
    assert run_packets(build(), make_config()).opened(rule)
    assert not run_packets(build(), make_config(**overrides)).opened(rule)


def test_alert_document_follows_contract_5() -> None:
    (doc,) = run_packets(s.vertical_scan()).opened("port_scan_vertical")
    assert set(doc) >= {"@timestamp", "event", "rule", "source", "destination", "network",
                        "threat", "device", "message"}
    assert doc["event"]["kind"] == "alert"
    assert doc["event"]["category"] == ["network", "intrusion_detection"]
    assert 0 <= doc["event"]["severity"] <= 100
    assert doc["rule"]["ruleset"] == "zonegate-monitor"
    assert doc["threat"] == {"framework": "MITRE ATT&CK", "technique": {"id": ["T1046"]},
                             "tactic": {"name": ["Discovery"]}}
    assert doc["network"]["community_id"].startswith("1:")
    assert doc["device"]["id"] == s.CAM
    assert doc["@timestamp"].endswith("Z") and len(doc["@timestamp"]) == 24
