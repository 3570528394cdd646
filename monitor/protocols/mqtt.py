"""MQTT 3.1/3.1.1/5 control packets: CONNECT, CONNACK, SUBSCRIBE (only what detectors read).

Without TCP reassembly, a segment is parsed as a sequence of whole control packets; a packet
that runs past the segment ends the parse.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

CONNECT = 1
CONNACK = 2
PUBLISH = 3
SUBSCRIBE = 8
PINGREQ = 12


@dataclass(slots=True)
class MqttPacket:
    """One MQTT control packet; fields not carried by its type stay empty."""

    kind: int
    client_id: str = ""
    username: str | None = None
    has_password: bool = False
    password_length: int = 0
    protocol_level: int = 0
    return_code: int = -1
    topics: list[str] = field(default_factory=list)


def _remaining_length(buf: bytes, pos: int) -> tuple[int, int] | None:
    value = 0
    for shift in range(4):
        if pos >= len(buf):
            return None
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << (7 * shift)
        if not byte & 0x80:
            return value, pos
    return None


def _utf8(buf: bytes, pos: int) -> tuple[str, int] | None:
    if pos + 2 > len(buf):
        return None
    (n,) = struct.unpack_from("!H", buf, pos)
    raw = buf[pos + 2:pos + 2 + n]
    if len(raw) != n:
        return None
    return raw.decode("utf-8", "replace"), pos + 2 + n


def _varint_skip(buf: bytes, pos: int) -> int | None:
    got = _remaining_length(buf, pos)
    if got is None:
        return None
    length, pos = got
    return pos + length


def _connect(body: bytes) -> MqttPacket | None:
    name = _utf8(body, 0)
    if name is None or name[0] not in ("MQTT", "MQIsdp") or name[1] + 4 > len(body):
        return None
    pos = name[1]
    level, flags = body[pos], body[pos + 1]
    pos += 4
    if level == 5:
        skipped = _varint_skip(body, pos)
        if skipped is None:
            return None
        pos = skipped
    cid = _utf8(body, pos)
    if cid is None:
        return None
    pkt = MqttPacket(CONNECT, client_id=cid[0][:128], protocol_level=level)
    pos = cid[1]
    if flags & 0x04:  # will
        if level == 5:
            skipped = _varint_skip(body, pos)
            if skipped is None:
                return pkt
            pos = skipped
        topic = _utf8(body, pos)
        if topic is None or topic[1] + 2 > len(body):
            return pkt
        (wlen,) = struct.unpack_from("!H", body, topic[1])
        pos = topic[1] + 2 + wlen
    if flags & 0x80:
        user = _utf8(body, pos)
        if user is None:
            return pkt
        pkt.username = user[0][:128]
        pos = user[1]
    if flags & 0x40:
        pkt.has_password = True
        if pos + 2 <= len(body):
            (pkt.password_length,) = struct.unpack_from("!H", body, pos)
    return pkt


def _subscribe(body: bytes, level: int) -> MqttPacket:
    pkt = MqttPacket(SUBSCRIBE)
    pos = 2
    if level == 5:
        skipped = _varint_skip(body, pos)
        if skipped is None:
            return pkt
        pos = skipped
    while pos < len(body) and len(pkt.topics) < 64:
        topic = _utf8(body, pos)
        if topic is None:
            break
        pkt.topics.append(topic[0][:256])
        pos = topic[1] + 1
    return pkt


def parse_mqtt(payload: bytes, level: int = 4) -> list[MqttPacket]:
    """Parse the whole MQTT control packets in one TCP payload (empty if none)."""
    out: list[MqttPacket] = []
    pos = 0
    while pos < len(payload) and len(out) < 32:
        kind = payload[pos] >> 4
        got = _remaining_length(payload, pos + 1)
        if got is None or kind == 0:
            break
        length, start = got
        body = payload[start:start + length]
        if len(body) != length:
            break
        if kind == CONNECT:
            pkt = _connect(body)
            if pkt is None:
                break
            level = pkt.protocol_level
            out.append(pkt)
        elif kind == CONNACK and length >= 2:
            out.append(MqttPacket(CONNACK, return_code=body[1]))
        elif kind == SUBSCRIBE and payload[pos] & 0x0F == 0x02:
            out.append(_subscribe(body, level))
        elif kind in (PUBLISH, PINGREQ) or 4 <= kind <= 14:
            out.append(MqttPacket(kind))
        else:
            break
        pos = start + length
    return out
