"""Crafted traffic for every detector: an attack, and a benign look-alike that must stay silent.

Every builder returns scapy packets with capture times set; tests feed them to the engine and
the vector script writes some of them to tests/vectors/monitor/.
"""

from __future__ import annotations

import random
import string

from scapy.contrib.coap import CoAP
from scapy.contrib.modbus import (
    ModbusADURequest,
    ModbusPDU03ReadHoldingRegistersRequest,
    ModbusPDU06WriteSingleRegisterRequest,
)
from scapy.contrib.mqtt import MQTT, MQTTConnack, MQTTConnect, MQTTSubscribe, MQTTTopicQOS
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet, Raw

T0 = 1_700_000_000.0
CAM, CAM_IP = "00:12:12:00:00:0d", "10.0.0.13"       # Hikvision OUI
GW, GW_IP = "00:1d:0f:00:00:01", "10.0.0.1"
EVIL = "02:00:00:00:66:66"                             # locally administered
BROKER_IP = "10.0.0.2"
_MACS = {CAM_IP: CAM, GW_IP: GW}


def mac(ip: str) -> str:
    if ip not in _MACS:
        n = sum(int(p) << (8 * i) for i, p in enumerate(reversed(ip.split("."))))
        _MACS[ip] = "00:0b:57:" + ":".join(f"{(n >> s) & 0xFF:02x}" for s in (16, 8, 0))
    return _MACS[ip]


def at(pkt: Packet, ts: float) -> Packet:
    pkt.time = ts
    return pkt


def eth(src_ip: str, dst_ip: str) -> Packet:
    return Ether(src=mac(src_ip), dst=mac(dst_ip)) / IP(src=src_ip, dst=dst_ip)


def tcp(src: str, dst: str, sport: int, dport: int, flags: str, ts: float,
        payload: bytes = b"", seq: int = 1000) -> Packet:
    pkt = eth(src, dst) / TCP(sport=sport, dport=dport, flags=flags, seq=seq)
    if payload:
        pkt = pkt / Raw(payload)
    return at(pkt, ts)


def udp(src: str, dst: str, sport: int, dport: int, ts: float, payload: Packet | bytes) -> Packet:
    return at(eth(src, dst) / UDP(sport=sport, dport=dport) / payload, ts)


def handshake(src: str, dst: str, sport: int, dport: int, ts: float,
              answer: str = "SA") -> list[Packet]:
    """A SYN and the target's answer ("SA" accepted, "RA" refused, "" silent)."""
    out = [tcp(src, dst, sport, dport, "S", ts)]
    if answer:
        out.append(tcp(dst, src, dport, sport, answer, ts + 0.001))
    return out


# -- scans ---------------------------------------------------------------------------------

def horizontal_scan(hosts: int = 30) -> list[Packet]:
    out: list[Packet] = []
    for i in range(hosts):
        out += handshake(CAM_IP, f"10.0.1.{i + 1}", 40000 + i, 8080, T0 + i * 0.5,
                         answer="RA" if i % 2 else "")
    return out


def udp_scan(ports: int = 20) -> list[Packet]:
    """UDP probes to closed ports, each refused with ICMP port unreachable."""
    out: list[Packet] = []
    for i in range(ports):
        probe = eth(CAM_IP, "10.0.0.50") / UDP(sport=45001, dport=100 + i) / Raw(b"x")
        out.append(at(probe, T0 + i * 0.2))
        refusal = eth("10.0.0.50", CAM_IP) / ICMP(type=3, code=3) / probe[IP]
        out.append(at(refusal, T0 + i * 0.2 + 0.001))
    return out


def cdn_lookalike(addresses: int = 40) -> list[Packet]:
    """A client resolving a CDN name to many addresses, connecting to each on 443."""
    out: list[Packet] = []
    for i in range(addresses):
        ip = f"203.0.113.{i + 1}"
        ts = T0 + i
        query = DNS(id=i, qd=DNSQR(qname="cdn.example.net"))
        out.append(udp(CAM_IP, GW_IP, 50000 + i, 53, ts, query))
        out.append(udp(GW_IP, CAM_IP, 53, 50000 + i, ts + 0.01, DNS(
            id=i, qr=1, qd=DNSQR(qname="cdn.example.net"),
            an=DNSRR(rrname="cdn.example.net", type="A", rdata=ip))))
        out += handshake(CAM_IP, ip, 41000 + i, 443, ts + 0.02, answer="SA" if i % 3 else "")
    return out


def vertical_scan(ports: int = 20) -> list[Packet]:
    out: list[Packet] = []
    for i in range(ports):
        out += handshake(CAM_IP, "10.0.0.50", 45000, 1 + i * 7, T0 + i * 0.1, answer="RA")
    return out


def busy_client_lookalike() -> list[Packet]:
    """Many answered connections to a few ports of one server."""
    out: list[Packet] = []
    for i in range(40):
        out += handshake(CAM_IP, "10.0.0.50", 42000 + i, (80, 443, 8883)[i % 3], T0 + i)
    return out


# -- brute force ---------------------------------------------------------------------------

def telnet_bruteforce(attempts: int = 12, port: int = 23) -> list[Packet]:
    out: list[Packet] = []
    for i in range(attempts):
        out += handshake(CAM_IP, "10.0.0.60", 43000 + i, port, T0 + i * 2)
    return out


def mirai_syn() -> list[Packet]:
    target = "10.0.0.77"
    seq = int.from_bytes(bytes(int(p) for p in target.split(".")), "big")
    return [tcp(CAM_IP, target, 44444, 23, "S", T0, seq=seq)]


ROUTED_BOT, ROUTED_NEIGHBOUR = "10.1.0.5", "10.1.0.6"  # behind the router GW


def routed(src: str, dst: str, dport: int, flags: str, ts: float, seq: int = 1000,
           router: str = GW) -> Packet:
    """A TCP segment from `src` on another subnet, as the router forwards it onto ours."""
    return at(Ether(src=router, dst=mac(dst)) / IP(src=src, dst=dst)
              / TCP(sport=44444, dport=dport, flags=flags, seq=seq), ts)


def routed_mirai(own: bool = True, neighbour: bool = True) -> list[Packet]:
    """The router speaks for itself, forwards an innocent neighbour, then a Mirai SYN."""
    out: list[Packet] = []
    if own:
        out.append(tcp(GW_IP, CAM_IP, 53, 40000, "A", T0))
    if neighbour:
        out.append(routed(ROUTED_NEIGHBOUR, CAM_IP, 443, "S", T0 + 1))
    target = "10.0.0.77"
    seq = int.from_bytes(bytes(int(p) for p in target.split(".")), "big")
    out.append(routed(ROUTED_BOT, target, 23, "S", T0 + 2, seq=seq))
    return out


def ssh_bruteforce(attempts: int = 12) -> list[Packet]:
    out: list[Packet] = []
    for i in range(attempts):
        out += handshake(CAM_IP, "10.0.0.61", 43000 + i, 22, T0 + i * 3)
    return out


def few_logins(port: int) -> list[Packet]:
    out: list[Packet] = []
    for i in range(3):
        out += handshake(CAM_IP, "10.0.0.61", 43000 + i, port, T0 + i * 30)
    return out


# -- baselines -----------------------------------------------------------------------------

def learned_then(new_dest: str | None, learn: float = 120.0) -> list[Packet]:
    """The camera uses its broker while learning; afterwards optionally a new destination."""
    out: list[Packet] = []
    for i in range(6):
        out += handshake(CAM_IP, BROKER_IP, 46000 + i, 1883, T0 + i * 20)
    after = T0 + learn + 10
    out += handshake(CAM_IP, BROKER_IP, 46100, 1883, after)
    if new_dest is not None:
        out += handshake(CAM_IP, new_dest, 46101, 4444, after + 5)
    return out


def beacon(interval: float = 60.0, count: int = 10, jitter: float = 0.3,
           dest: str = "198.51.100.7") -> list[Packet]:
    rng = random.Random(7)
    out: list[Packet] = []
    for i in range(count):
        out += handshake(CAM_IP, dest, 47000 + i, 443,
                         T0 + i * interval + rng.uniform(-jitter, jitter))
    return out


def irregular_connections(dest: str = "198.51.100.7") -> list[Packet]:
    rng = random.Random(3)
    out: list[Packet] = []
    ts = T0
    for i in range(12):
        ts += rng.uniform(5, 300)
        out += handshake(CAM_IP, dest, 47100 + i, 443, ts)
    return out


def mqtt_heartbeat(count: int = 20, interval: float = 60.0) -> list[Packet]:
    """One long MQTT session to an outside broker with a PINGREQ every minute."""
    broker = "198.51.100.20"
    out = handshake(CAM_IP, broker, 48000, 1883, T0)
    for i in range(count):
        ts = T0 + 1 + i * interval
        out.append(tcp(CAM_IP, broker, 48000, 1883, "PA", ts, b"\xc0\x00"))
        out.append(tcp(broker, CAM_IP, 1883, 48000, "PA", ts + 0.05, b"\xd0\x00"))
    return out


def traffic(minutes: int, per_minute: int, spike_minute: int | None = None,
            spike_bytes: int = 0) -> list[Packet]:
    """UDP telemetry, `per_minute` bytes a minute, and optionally one big minute."""
    out: list[Packet] = []
    chunk = 1000
    for minute in range(minutes):
        size = spike_bytes if minute == spike_minute else per_minute
        n = max(1, size // chunk)
        for j in range(n):
            ts = T0 + minute * 60 + j * (50.0 / n)
            out.append(udp(CAM_IP, "10.0.0.3", 5000, 9000, ts, Raw(b"\0" * (chunk - 42))))
    return out


# -- DNS -----------------------------------------------------------------------------------

def _query(name: str, ts: float, qtype: str = "A", txid: int = 1) -> Packet:
    return udp(CAM_IP, GW_IP, 53000 + txid % 1000, 53, ts,
               DNS(id=txid, rd=1, qd=DNSQR(qname=name, qtype=qtype)))


def dga_lookups(count: int = 8) -> list[Packet]:
    rng = random.Random(11)
    out = []
    for i in range(count):
        label = "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(18))
        out.append(_query(f"{label}.com", T0 + i, txid=i))
    return out


def nxdomain_burst(count: int = 15) -> list[Packet]:
    out = []
    for i in range(count):
        name = f"host{i}.example.org"
        out.append(_query(name, T0 + i, txid=i))
        out.append(udp(GW_IP, CAM_IP, 53, 53000 + i, T0 + i + 0.01,
                       DNS(id=i, qr=1, rcode=3, qd=DNSQR(qname=name))))
    return out


def normal_lookups() -> list[Packet]:
    names = ["time.google.com", "api.thingspeak.com", "mqtt.eclipseprojects.io",
             "pool.ntp.org", "firmware.hikvision.com", "iot.us-east-1.amazonaws.com",
             "ocsp.digicert.com", "connectivitycheck.gstatic.com", "weather.city.gov.cn",
             "telemetry.smartpole.example.com"]
    return [_query(n, T0 + i * 5, txid=i) for i, n in enumerate(names * 2)]


def dns_long_label() -> list[Packet]:
    label = "mzxw6ytboi4dqmrrgq3tsnbvgy3tqojqgezdgnbvgy3tqojqmfrggzdfmztwq"
    return [_query(f"{label}.t.evil.example", T0)]


def dns_many_subdomains(count: int = 60) -> list[Packet]:
    return [_query(f"c{i:04x}a{i * 7919 % 9973:04x}.x.evil.example", T0 + i, txid=i)
            for i in range(count)]


def dns_txt(count: int = 35) -> list[Packet]:
    return [_query(f"q{i}.evil.example", T0 + i, qtype="TXT", txid=i) for i in range(count)]


# -- layer 2 -------------------------------------------------------------------------------

def _arp(hw: str, ip: str, ts: float, op: int = 2) -> Packet:
    return at(Ether(src=hw, dst="ff:ff:ff:ff:ff:ff") / ARP(op=op, hwsrc=hw, psrc=ip,
                                                           hwdst="ff:ff:ff:ff:ff:ff", pdst=ip), ts)


def arp_spoof_gateway() -> list[Packet]:
    return [_arp(GW, GW_IP, T0), _arp(GW, GW_IP, T0 + 30), _arp(EVIL, GW_IP, T0 + 60)]


def arp_flip_back() -> list[Packet]:
    """The gateway, twice; a spoofer; the gateway re-announcing itself; the spoofer again."""
    return [_arp(GW, GW_IP, T0), _arp(GW, GW_IP, T0 + 30), _arp(EVIL, GW_IP, T0 + 60),
            _arp(GW, GW_IP, T0 + 61), _arp(EVIL, GW_IP, T0 + 62)]


def arp_steady() -> list[Packet]:
    return [_arp(GW, GW_IP, T0 + i * 30) for i in range(10)] + \
        [_arp(CAM, CAM_IP, T0 + i * 30, op=1) for i in range(10)]


def dhcp_offer(server: str, ts: float = T0) -> Packet:
    return at(Ether(src=mac(server), dst="ff:ff:ff:ff:ff:ff")
              / IP(src=server, dst="255.255.255.255") / UDP(sport=67, dport=68)
              / BOOTP(op=2, yiaddr="10.0.0.150", chaddr=bytes.fromhex("00121200000d") + b"\0" * 10)
              / DHCP(options=[("message-type", "offer"), ("server_id", server), "end"]), ts)


def dhcp_request(ts: float = T0) -> Packet:
    return at(Ether(src=CAM, dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255")
              / UDP(sport=68, dport=67)
              / BOOTP(op=1, chaddr=bytes.fromhex("00121200000d") + b"\0" * 10)
              / DHCP(options=[("message-type", "request"), ("hostname", b"cam-lobby"),
                              ("vendor_class_id", b"hikvision-ipc"),
                              ("param_req_list", [1, 3, 6, 12, 15, 28, 42]), "end"]), ts)


# -- IoT protocols -------------------------------------------------------------------------

def mqtt_session(username: bytes | None, retcode: int = 0, port: int = 1883,
                 topic: bytes | None = None) -> list[Packet]:
    fields: dict[str, object] = {"protoname": b"MQTT", "protolevel": 4, "clientId": b"cam-13"}
    if username is not None:
        fields.update(usernameflag=1, passwordflag=1, username=username, password=b"p4ss")
    out = handshake(CAM_IP, BROKER_IP, 49000, port, T0)
    out.append(tcp(CAM_IP, BROKER_IP, 49000, port, "PA", T0 + 0.01,
                   bytes(MQTT() / MQTTConnect(**fields))))
    out.append(tcp(BROKER_IP, CAM_IP, port, 49000, "PA", T0 + 0.02,
                   bytes(MQTT() / MQTTConnack(retcode=retcode))))
    if topic is not None:
        out.append(tcp(CAM_IP, BROKER_IP, 49000, port, "PA", T0 + 0.03, bytes(
            MQTT(QOS=1) / MQTTSubscribe(msgid=1, topics=[MQTTTopicQOS(topic=topic, QOS=0)]))))
    return out


def coap_reflection(victim: str = "192.0.2.50", responses: int = 30) -> list[Packet]:
    server = "10.0.0.30"
    out = [udp(victim, server, 5683, 5683, T0, CoAP(type=0, code=1, msg_id=1, options=[
        ("Uri-Path", b".well-known"), ("Uri-Path", b"core")]))]
    for i in range(responses):
        out.append(udp(server, victim, 5683, 5683, T0 + 0.01 + i * 0.01,
                       CoAP(type=2, code=69, msg_id=1) / Raw(b"\xff" + b"<" * 1000)))
    return out


def coap_normal(exchanges: int = 30) -> list[Packet]:
    server = "10.0.0.30"
    out = []
    for i in range(exchanges):
        out.append(udp(CAM_IP, server, 5683, 5683, T0 + i, CoAP(type=0, code=1, msg_id=i, options=[
            ("Uri-Path", b"temp")])))
        out.append(udp(server, CAM_IP, 5683, 5683, T0 + i + 0.01,
                       CoAP(type=2, code=69, msg_id=i) / Raw(b"\xff21.5")))
    return out


def modbus(src: str, write: bool, ts: float = T0) -> list[Packet]:
    pdu = ModbusPDU06WriteSingleRegisterRequest(registerAddr=40, registerValue=1) if write \
        else ModbusPDU03ReadHoldingRegistersRequest()
    out = handshake(src, "10.0.0.40", 50200, 502, ts)
    out.append(tcp(src, "10.0.0.40", 50200, 502, "PA", ts + 0.01,
                   bytes(ModbusADURequest(transId=1, unitId=1) / pdu)))
    return out


# -- cleartext credentials -----------------------------------------------------------------

def telnet_login() -> list[Packet]:
    srv = "10.0.0.70"
    out = handshake(CAM_IP, srv, 51000, 23, T0)
    out.append(tcp(srv, CAM_IP, 23, 51000, "PA", T0 + 0.1, b"\xff\xfb\x01\r\nlogin: "))
    out.append(tcp(CAM_IP, srv, 51000, 23, "PA", T0 + 0.2, b"admin\r\n"))
    out.append(tcp(srv, CAM_IP, 23, 51000, "PA", T0 + 0.3, b"Password: "))
    out.append(tcp(CAM_IP, srv, 51000, 23, "PA", T0 + 0.4, b"12345\r\n"))
    return out


def ftp_login() -> list[Packet]:
    srv = "10.0.0.71"
    out = handshake(CAM_IP, srv, 51001, 21, T0)
    out.append(tcp(CAM_IP, srv, 51001, 21, "PA", T0 + 0.1, b"USER upload\r\n"))
    out.append(tcp(CAM_IP, srv, 51001, 21, "PA", T0 + 0.2, b"PASS ftp-pw-991\r\n"))
    return out


def http_request(auth: bool) -> list[Packet]:
    srv = "10.0.0.72"
    head = b"GET /snapshot.jpg HTTP/1.1\r\nHost: cam\r\n"
    if auth:
        head += b"Authorization: Basic YWRtaW46MTIzNDU=\r\n"
    out = handshake(CAM_IP, srv, 51002, 80, T0)
    out.append(tcp(CAM_IP, srv, 51002, 80, "PA", T0 + 0.1, head + b"\r\n"))
    return out
