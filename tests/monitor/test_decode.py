"""The fast decoder against frames built by scapy, and against broken frames."""

from __future__ import annotations

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop
from scapy.layers.l2 import ARP, CookedLinux, Dot1Q, Ether
from scapy.packet import Raw

from monitor.decode import LINKTYPE_LINUX_SLL, LINKTYPE_RAW, decode

A, B = "00:11:22:33:44:55", "66:77:88:99:aa:bb"


@pytest.mark.parametrize(
    ("frame", "expect"),
    [
        (Ether(src=A, dst=B) / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1234, dport=80,
                                                                          flags="S", seq=77),
         {"ip_version": 4, "src_ip": "10.0.0.1", "dst_ip": "10.0.0.2", "proto": 6,
          "sport": 1234, "dport": 80, "tcp_flags": 0x02, "seq": 77, "payload": b""}),
        (Ether(src=A, dst=B) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=5, dport=53)
         / Raw(b"hello"),
         {"proto": 17, "sport": 5, "dport": 53, "payload": b"hello"}),
        (Ether(src=A, dst=B) / Dot1Q(vlan=7) / IP(src="10.0.0.1", dst="10.0.0.2")
         / UDP(sport=1, dport=2),
         {"ip_version": 4, "proto": 17, "sport": 1, "dport": 2}),
        (Ether(src=A, dst=B) / IPv6(src="fe80::1", dst="fe80::2") / TCP(sport=9, dport=22)
         / Raw(b"x"),
         {"ip_version": 6, "src_ip": "fe80::1", "dst_ip": "fe80::2", "proto": 6, "dport": 22,
          "payload": b"x"}),
        (Ether(src=A, dst=B) / IPv6(src="fe80::1", dst="fe80::2") / IPv6ExtHdrHopByHop()
         / UDP(sport=3, dport=4),
         {"ip_version": 6, "proto": 17, "sport": 3, "dport": 4}),
        (Ether(src=A, dst=B) / IPv6(src="fe80::1", dst="fe80::2")
         / IPv6ExtHdrFragment(offset=10, nh=17) / Raw(b"later fragment"),
         {"ip_version": 6, "proto": 17, "sport": 0, "dport": 0}),
        (Ether(src=A, dst=B) / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(type=8, code=0),
         {"proto": 1, "sport": 8, "dport": 0}),
        (Ether(src=A, dst=B) / IP(src="10.0.0.1", dst="10.0.0.2", frag=5, proto=6)
         / Raw(b"\x00" * 20),
         {"proto": 6, "sport": 0, "dport": 0}),
        # Ethernet padding after a short IP packet must not reach the payload
        (Ether(src=A, dst=B) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2)
         / Raw(b"ab") / Raw(b"\x00" * 20),
         {"payload": b"ab" + b"\x00" * 20}),
    ],
    ids=["tcp-syn", "udp", "vlan", "ipv6-tcp", "ipv6-hbh", "ipv6-frag", "icmp", "ipv4-frag",
         "payload"],
)
def test_decodes_like_scapy_builds(frame: Ether, expect: dict[str, object]) -> None:
    pkt = decode(bytes(frame), 1.5)
    assert pkt.src_mac == A and pkt.dst_mac == B
    assert not pkt.truncated
    for field, value in expect.items():
        assert getattr(pkt, field) == value, field


def test_ethernet_padding_is_clipped() -> None:
    inner = IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2) / Raw(b"ab")
    frame = bytes(Ether(src=A, dst=B) / inner) + b"\x00" * 16
    pkt = decode(frame, 0.0)
    assert pkt.payload == b"ab"
    assert pkt.length == len(frame)


def test_arp() -> None:
    frame = Ether(src=A, dst="ff:ff:ff:ff:ff:ff") / ARP(op=2, hwsrc=A, psrc="10.0.0.1",
                                                         hwdst=B, pdst="10.0.0.2")
    pkt = decode(bytes(frame), 0.0)
    assert pkt.arp is not None
    assert (pkt.arp.op, pkt.arp.sender_mac, pkt.arp.sender_ip, pkt.arp.target_ip) == \
        (2, A, "10.0.0.1", "10.0.0.2")


@pytest.mark.parametrize(("linktype", "frame"), [
    (LINKTYPE_RAW, bytes(IP(src="10.1.1.1", dst="10.1.1.2") / UDP(sport=7, dport=8))),
    (LINKTYPE_LINUX_SLL, bytes(CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6,
                                           src=bytes.fromhex("001122334455") + b"\0\0")
                               / IP(src="10.1.1.1", dst="10.1.1.2") / UDP(sport=7, dport=8))),
])
def test_other_link_types(linktype: int, frame: bytes) -> None:
    pkt = decode(frame, 0.0, linktype)
    assert (pkt.src_ip, pkt.dst_ip, pkt.sport, pkt.dport) == ("10.1.1.1", "10.1.1.2", 7, 8)


FULL = bytes(Ether(src=A, dst=B) / IP(src="10.0.0.1", dst="10.0.0.2")
             / TCP(sport=1, dport=2) / Raw(b"data"))


@pytest.mark.parametrize("cut", [0, 5, 13, 14, 20, 33, 34, 40, 47, 53])
def test_truncated_frames_are_flagged_not_fatal(cut: int) -> None:
    pkt = decode(FULL[:cut], 0.0)
    assert pkt.truncated
    assert pkt.payload == b""


def test_lying_ip_length_is_flagged() -> None:
    frame = bytearray(FULL)
    frame[16:18] = (4000).to_bytes(2, "big")  # IPv4 total length far past the frame
    pkt = decode(bytes(frame), 0.0)
    assert pkt.truncated
    assert pkt.dport == 2


def test_unknown_ethertype_is_not_ip() -> None:
    pkt = decode(bytes(Ether(src=A, dst=B, type=0x88CC) / Raw(b"lldp")), 0.0)
    assert pkt.ip_version == 0 and pkt.arp is None and not pkt.truncated


def test_icmp_unreachable_quotes_the_probe() -> None:
    from scapy.layers.inet import ICMP

    from monitor.decode import quoted_datagram

    probe = IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=4000, dport=161) / Raw(b"q")
    frame = Ether(src=B, dst=A) / IP(src="10.0.0.2", dst="10.0.0.1") / ICMP(type=3, code=3) \
        / probe
    quoted = quoted_datagram(decode(bytes(frame), 2.0))
    assert quoted is not None
    assert (quoted.src_ip, quoted.dst_ip, quoted.proto, quoted.sport, quoted.dport,
            quoted.src_mac) == ("10.0.0.1", "10.0.0.2", 17, 4000, 161, A)
    short = Ether(src=B, dst=A) / IP(src="10.0.0.2", dst="10.0.0.1") / ICMP(type=3, code=3)
    assert quoted_datagram(decode(bytes(short), 2.0)) is None
