"""Community ID flow hashing, version 1 (https://github.com/corelight/community-id-spec).

    sha1(seed:u16be · saddr · daddr · proto:u8 · 0:u8 · sport:u16be · dport:u16be)

with the endpoints ordered so the smaller (address, port) comes first; ICMP types map to
their counterparts so a request and its reply share one id.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import struct

from monitor.model import ICMP, ICMPV6, TCP, UDP

_PORTED = frozenset({TCP, UDP, 132})

# type -> counterpart type, from the spec (one-way types are absent).
_ICMP4 = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 17: 18, 18: 17, 10: 9, 9: 10}
_ICMP6 = {128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135, 130: 131, 131: 130,
          139: 140, 140: 139, 144: 145, 145: 144}


def community_id_raw(
    saddr: bytes, daddr: bytes, proto: int, sport: int = 0, dport: int = 0, seed: int = 0
) -> str:
    """Community ID v1 from packed addresses (4 or 16 bytes) and host-order ports."""
    one_way = False
    if proto in (ICMP, ICMPV6):
        table = _ICMP4 if proto == ICMP else _ICMP6
        icmp_type, icmp_code = sport, dport
        peer = table.get(icmp_type)
        if peer is None:
            one_way = True
            sport, dport = icmp_type, icmp_code
        else:
            sport, dport = icmp_type, peer
    ported = proto in _PORTED or proto in (ICMP, ICMPV6)
    if not one_way and (saddr, sport) > (daddr, dport):
        saddr, daddr, sport, dport = daddr, saddr, dport, sport
    data = struct.pack("!H", seed & 0xFFFF) + saddr + daddr + struct.pack("!BB", proto, 0)
    if ported:
        data += struct.pack("!HH", sport & 0xFFFF, dport & 0xFFFF)
    digest = hashlib.sha1(data, usedforsecurity=False).digest()
    return "1:" + base64.b64encode(digest).decode("ascii")


def community_id(
    src: str, dst: str, proto: int, sport: int = 0, dport: int = 0, seed: int = 0
) -> str:
    """Community ID v1 from textual addresses; raises ValueError on a bad address."""
    return community_id_raw(
        ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed,
        proto, sport, dport, seed,
    )
