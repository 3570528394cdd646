"""DNS messages: question names and types, answer addresses, response code."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

_HDR = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
_MAX_NAME = 255
_MAX_RECORDS = 64

QTYPE_A = 1
QTYPE_TXT = 16
QTYPE_AAAA = 28
QTYPE_PTR = 12
RCODE_NXDOMAIN = 3


@dataclass(slots=True)
class DnsMessage:
    """The parts of a DNS (or mDNS) message the monitor reads."""

    txid: int
    is_response: bool
    rcode: int
    questions: list[tuple[str, int]] = field(default_factory=list)
    answers: list[tuple[str, int, str]] = field(default_factory=list)


def _name(buf: bytes, pos: int) -> tuple[str, int] | None:
    labels: list[str] = []
    end = -1
    jumps = 0
    total = 0
    while True:
        if pos >= len(buf):
            return None
        length = buf[pos]
        if length == 0:
            pos += 1
            break
        if length & 0xC0 == 0xC0:
            if pos + 1 >= len(buf) or jumps > 16:
                return None
            if end < 0:
                end = pos + 2
            pos = ((length & 0x3F) << 8) | buf[pos + 1]
            jumps += 1
            continue
        if length & 0xC0:
            return None
        label = buf[pos + 1:pos + 1 + length]
        if len(label) != length:
            return None
        total += length + 1
        if total > _MAX_NAME:
            return None
        labels.append(label.decode("ascii", "replace").lower())
        pos += 1 + length
    return ".".join(labels), (end if end >= 0 else pos)


def parse_dns(payload: bytes) -> DnsMessage | None:
    """Parse a DNS message; None if it is not one."""
    if len(payload) < 12:
        return None
    txid, flags, qd, an, _ns, _ar = _HDR.unpack_from(payload, 0)
    if flags & 0x7800:  # opcode other than QUERY
        return None
    msg = DnsMessage(txid, bool(flags & 0x8000), flags & 0x0F)
    pos = 12
    for _ in range(min(qd, _MAX_RECORDS)):
        parsed = _name(payload, pos)
        if parsed is None or parsed[1] + 4 > len(payload):
            return msg if msg.questions else None
        name, pos = parsed
        (qtype,) = struct.unpack_from("!H", payload, pos)
        msg.questions.append((name, qtype))
        pos += 4
    for _ in range(min(an, _MAX_RECORDS)):
        parsed = _name(payload, pos)
        if parsed is None or parsed[1] + 10 > len(payload):
            break
        name, pos = parsed
        rtype, _cls, _ttl, rdlen = _RR.unpack_from(payload, pos)
        pos += 10
        rdata = payload[pos:pos + rdlen]
        if len(rdata) != rdlen:
            break
        if rtype == QTYPE_A and rdlen == 4:
            msg.answers.append((name, rtype, socket.inet_ntop(socket.AF_INET, rdata)))
        elif rtype == QTYPE_AAAA and rdlen == 16:
            msg.answers.append((name, rtype, socket.inet_ntop(socket.AF_INET6, rdata)))
        elif rtype == QTYPE_PTR:
            target = _name(payload, pos)
            if target is not None:
                msg.answers.append((name, rtype, target[0]))
        pos += rdlen
    return msg
