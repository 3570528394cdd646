"""The monitor's own packet record: what the fast decoder hands to inventory and detectors.

Packets are turned into these small slotted dataclasses at once; nothing past the decoder
touches raw frames or scapy objects.
"""

from __future__ import annotations

from dataclasses import dataclass

TCP = 6
UDP = 17
ICMP = 1
ICMPV6 = 58

FIN = 0x01
SYN = 0x02
RST = 0x04
PSH = 0x08
ACK = 0x10

TRANSPORT_NAMES = {TCP: "tcp", UDP: "udp", ICMP: "icmp", ICMPV6: "ipv6-icmp"}


@dataclass(slots=True)
class ArpInfo:
    """An ARP message (Ethernet/IPv4 only)."""

    op: int
    sender_mac: str
    sender_ip: str
    target_mac: str
    target_ip: str


@dataclass(slots=True)
class Packet:
    """One decoded frame. Fields a layer did not carry keep their zero value.

    For ICMP, `sport`/`dport` carry the ICMP type and code (as Community ID does).
    `payload` is the transport payload, clipped to the IP length (no Ethernet padding).
    """

    ts: float
    length: int
    src_mac: str | None = None
    dst_mac: str | None = None
    ip_version: int = 0
    src_ip: str | None = None
    dst_ip: str | None = None
    src_ip_raw: bytes = b""
    dst_ip_raw: bytes = b""
    proto: int = 0
    sport: int = 0
    dport: int = 0
    tcp_flags: int = 0
    seq: int = 0
    payload: bytes = b""
    arp: ArpInfo | None = None
    truncated: bool = False
