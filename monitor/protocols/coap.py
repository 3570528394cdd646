"""CoAP (RFC 7252) message headers and Uri-Path."""

from __future__ import annotations

from dataclasses import dataclass

CON, NON, ACK, RST = range(4)


@dataclass(slots=True)
class CoapMessage:
    """A CoAP message: requests have code class 0, responses 2..5."""

    msg_type: int
    code: int
    message_id: int
    uri_path: str

    @property
    def is_request(self) -> bool:
        return 1 <= self.code <= 31


def parse_coap(payload: bytes) -> CoapMessage | None:
    """Parse a CoAP header and options; None if it is not CoAP."""
    if len(payload) < 4 or payload[0] >> 6 != 1:
        return None
    tkl = payload[0] & 0x0F
    if tkl > 8:
        return None
    code = payload[1]
    msg = CoapMessage((payload[0] >> 4) & 0x03, code, (payload[2] << 8) | payload[3], "")
    pos = 4 + tkl
    number = 0
    parts: list[str] = []
    for _ in range(64):
        if pos >= len(payload) or payload[pos] == 0xFF:
            break
        delta, length = payload[pos] >> 4, payload[pos] & 0x0F
        pos += 1
        if delta == 15 or length == 15:
            return None
        delta, pos = _extended(payload, pos, delta)
        length, pos = _extended(payload, pos, length)
        if pos < 0 or pos + length > len(payload):
            return None
        number += delta
        if number == 11:
            parts.append(payload[pos:pos + length].decode("utf-8", "replace"))
        pos += length
    msg.uri_path = "/" + "/".join(parts)
    return msg


def _extended(buf: bytes, pos: int, nibble: int) -> tuple[int, int]:
    if pos < 0:
        return 0, -1
    if nibble == 13:
        if pos >= len(buf):
            return 0, -1
        return buf[pos] + 13, pos + 1
    if nibble == 14:
        if pos + 1 >= len(buf):
            return 0, -1
        return ((buf[pos] << 8) | buf[pos + 1]) + 269, pos + 2
    return nibble, pos
