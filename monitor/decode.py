"""Fast path: Ethernet/ARP/IPv4/IPv6/TCP/UDP/ICMP headers decoded from raw bytes with struct.

Scapy's full dissection runs about 3.5k packets/s here; this runs two orders faster because it
reads only the fixed header fields the inventory and detectors need. It never raises on bad
input: a frame that ends early yields what was decoded so far with `truncated=True`, and a
frame that is not Ethernet/IP yields a Packet with only its length and time.
"""

from __future__ import annotations

import socket
import struct

from monitor.model import ICMP, ICMPV6, TCP, UDP, ArpInfo, Packet

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
SUPPORTED_LINKTYPES = frozenset(
    {LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LINUX_SLL, LINKTYPE_IPV4,
     LINKTYPE_IPV6}
)

_ETH = struct.Struct("!6s6sH")
_U16 = struct.Struct("!H")
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_IPV6 = struct.Struct("!IHBB16s16s")
_PORTS = struct.Struct("!HH")
_TCP = struct.Struct("!HHIIBB")
_ARP = struct.Struct("!HHBBH6s4s6s4s")

_IPV6_EXT = frozenset({0, 43, 60})
_IPV6_FRAG = 44
_CACHE_LIMIT = 1 << 16

_mac_names: dict[bytes, str] = {}
_ip4_names: dict[bytes, str] = {}
_ip6_names: dict[bytes, str] = {}


def mac_str(raw: bytes) -> str:
    """aa:bb:cc:dd:ee:ff for 6 raw bytes (cached: the same few devices recur)."""
    name = _mac_names.get(raw)
    if name is None:
        if len(_mac_names) >= _CACHE_LIMIT:
            _mac_names.clear()
        name = _mac_names[raw] = raw.hex(":")
    return name


def _ip4(raw: bytes) -> str:
    name = _ip4_names.get(raw)
    if name is None:
        if len(_ip4_names) >= _CACHE_LIMIT:
            _ip4_names.clear()
        name = _ip4_names[raw] = socket.inet_ntop(socket.AF_INET, raw)
    return name


def _ip6(raw: bytes) -> str:
    name = _ip6_names.get(raw)
    if name is None:
        if len(_ip6_names) >= _CACHE_LIMIT:
            _ip6_names.clear()
        name = _ip6_names[raw] = socket.inet_ntop(socket.AF_INET6, raw)
    return name


# only the fields the fast path reads: MACs, total length, fragment word, protocol, addresses
_ETH_IPV4 = struct.Struct("!6s6s4xH2xHxB2x4s4s")
_TCP_FAST = struct.Struct("!HHI4xBB")


def decode(frame: bytes, ts: float, linktype: int = LINKTYPE_ETHERNET,
           wirelen: int | None = None) -> Packet:
    """Decode one captured frame of the given pcap link type."""
    n = len(frame)
    # Fast path for the common case, untagged Ethernet + IPv4 without options + TCP/UDP:
    # one unpack for both headers, one for the transport, one constructor call.
    if linktype == 1 and n >= 42 and frame[12] == 8 and frame[13] == 0 and frame[14] == 0x45:
        dst, src, total, frag, proto, sip, dip = _ETH_IPV4.unpack_from(frame)
        end = 14 + total
        if not frag & 0x1FFF and total >= 20 and end <= n:
            if proto == 6 and end >= 54:
                sport, dport, seq, doff, flags = _TCP_FAST.unpack_from(frame, 34)
                hlen = 34 + (doff >> 4) * 4
                if hlen >= 54 and end >= hlen:
                    return Packet(
                        ts, n if wirelen is None else wirelen,
                        _mac_names.get(src) or mac_str(src), _mac_names.get(dst) or mac_str(dst),
                        4, _ip4_names.get(sip) or _ip4(sip), _ip4_names.get(dip) or _ip4(dip),
                        sip, dip, 6, sport, dport, flags, seq,
                        frame[hlen:end] if end > hlen else b"", None, False)
            elif proto == 17:
                sport, dport = _PORTS.unpack_from(frame, 34)
                return Packet(
                    ts, n if wirelen is None else wirelen,
                    _mac_names.get(src) or mac_str(src), _mac_names.get(dst) or mac_str(dst),
                    4, _ip4_names.get(sip) or _ip4(sip), _ip4_names.get(dip) or _ip4(dip),
                    sip, dip, 17, sport, dport, 0, 0, frame[42:end] if end > 42 else b"",
                    None, False)
    pkt = Packet(ts, n if wirelen is None else wirelen)
    if linktype == LINKTYPE_ETHERNET:
        if n < 14:
            pkt.truncated = True
            return pkt
        dst, src, etype = _ETH.unpack_from(frame, 0)
        pkt.dst_mac = mac_str(dst)
        pkt.src_mac = mac_str(src)
        off = 14
        tags = 0
        while (etype == 0x8100 or etype == 0x88A8) and tags < 2:
            if n < off + 4:
                pkt.truncated = True
                return pkt
            (etype,) = _U16.unpack_from(frame, off + 2)
            off += 4
            tags += 1
    elif linktype == LINKTYPE_LINUX_SLL:
        if n < 16:
            pkt.truncated = True
            return pkt
        (halen,) = _U16.unpack_from(frame, 4)
        if halen == 6:
            pkt.src_mac = mac_str(frame[6:12])
        (etype,) = _U16.unpack_from(frame, 14)
        off = 16
    elif linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
        if n < 1:
            pkt.truncated = True
            return pkt
        etype = 0x86DD if frame[0] >> 4 == 6 else 0x0800
        off = 0
    elif linktype == LINKTYPE_NULL:
        if n < 4:
            pkt.truncated = True
            return pkt
        family = frame[0] if frame[0] else frame[3]
        etype = 0x0800 if family == 2 else 0x86DD
        off = 4
    else:
        return pkt
    if etype == 0x0800:
        _ipv4(frame, off, pkt)
    elif etype == 0x86DD:
        _ipv6(frame, off, pkt)
    elif etype == 0x0806:
        _arp(frame, off, pkt)
    return pkt


def _ipv4(frame: bytes, off: int, pkt: Packet) -> None:
    if len(frame) < off + 20:
        pkt.truncated = True
        return
    vihl, _tos, total, _ident, frag, _ttl, proto, _csum, src, dst = _IPV4.unpack_from(frame, off)
    ihl = (vihl & 0x0F) * 4
    if vihl >> 4 != 4 or ihl < 20:
        pkt.truncated = True
        return
    pkt.ip_version = 4
    pkt.src_ip_raw = src
    pkt.dst_ip_raw = dst
    pkt.src_ip = _ip4(src)
    pkt.dst_ip = _ip4(dst)
    pkt.proto = proto
    end = off + total
    if end > len(frame) or total < ihl:
        pkt.truncated = True
        end = len(frame)
    if frag & 0x1FFF:
        return  # a later fragment carries no transport header
    _transport(frame, off + ihl, end, proto, pkt)


def _ipv6(frame: bytes, off: int, pkt: Packet) -> None:
    if len(frame) < off + 40:
        pkt.truncated = True
        return
    vtf, plen, nxt, _hop, src, dst = _IPV6.unpack_from(frame, off)
    if vtf >> 28 != 6:
        pkt.truncated = True
        return
    pkt.ip_version = 6
    pkt.src_ip_raw = src
    pkt.dst_ip_raw = dst
    pkt.src_ip = _ip6(src)
    pkt.dst_ip = _ip6(dst)
    end = off + 40 + plen
    if end > len(frame):
        pkt.truncated = True
        end = len(frame)
    pos = off + 40
    for _ in range(8):  # bounded walk over extension headers
        if nxt in _IPV6_EXT:
            if end < pos + 2:
                pkt.truncated = True
                return
            nxt, hlen = frame[pos], frame[pos + 1]
            pos += (hlen + 1) * 8
        elif nxt == _IPV6_FRAG:
            if end < pos + 8:
                pkt.truncated = True
                return
            (fragword,) = _U16.unpack_from(frame, pos + 2)
            nxt = frame[pos]
            pos += 8
            if fragword & 0xFFF8:
                pkt.proto = nxt
                return
        else:
            break
    pkt.proto = nxt
    _transport(frame, pos, end, nxt, pkt)


def _transport(frame: bytes, off: int, end: int, proto: int, pkt: Packet) -> None:
    if proto == TCP:
        if end < off + 14:
            pkt.truncated = True
            return
        sport, dport, seq, _ack, doff, flags = _TCP.unpack_from(frame, off)
        pkt.sport = sport
        pkt.dport = dport
        pkt.seq = seq
        pkt.tcp_flags = flags
        hlen = (doff >> 4) * 4
        if hlen < 20 or end < off + hlen:
            pkt.truncated = True
            return
        if end > off + hlen:
            pkt.payload = frame[off + hlen:end]
    elif proto == UDP:
        if end < off + 8:
            pkt.truncated = True
            return
        pkt.sport, pkt.dport = _PORTS.unpack_from(frame, off)
        if end > off + 8:
            pkt.payload = frame[off + 8:end]
    elif proto in (ICMP, ICMPV6):
        if end < off + 2:
            pkt.truncated = True
            return
        pkt.sport = frame[off]
        pkt.dport = frame[off + 1]
        pkt.payload = frame[off + 4:end] if end > off + 4 else b""


def quoted_datagram(pkt: Packet) -> Packet | None:
    """The probe an ICMPv4 destination-unreachable quotes, as the prober's packet.

    Returns a Packet from the prober (the ICMP packet's destination) to the unreachable
    target with the quoted transport and ports, or None if the quote is too short.
    """
    quote = pkt.payload[4:]  # after the 4 unused bytes of the unreachable message
    if len(quote) < 28 or quote[0] >> 4 != 4:
        return None
    ihl = (quote[0] & 0x0F) * 4
    if ihl < 20 or len(quote) < ihl + 4:
        return None
    src, dst = quote[12:16], quote[16:20]
    sport, dport = _PORTS.unpack_from(quote, ihl)
    return Packet(pkt.ts, 0, pkt.dst_mac, pkt.src_mac, 4, _ip4(src), _ip4(dst), src, dst,
                  quote[9], sport, dport)


def _arp(frame: bytes, off: int, pkt: Packet) -> None:
    if len(frame) < off + 28:
        pkt.truncated = True
        return
    htype, ptype, hlen, plen, op, sha, spa, tha, tpa = _ARP.unpack_from(frame, off)
    if htype != 1 or ptype != 0x0800 or hlen != 6 or plen != 4:
        return
    pkt.arp = ArpInfo(op, mac_str(sha), _ip4(spa), mac_str(tha), _ip4(tpa))
