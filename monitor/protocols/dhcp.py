"""DHCP (BOOTP) messages: type, client MAC, server id and the fingerprinting options."""

from __future__ import annotations

from dataclasses import dataclass

_MAGIC = b"\x63\x82\x53\x63"

DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = range(1, 9)


@dataclass(slots=True)
class DhcpMessage:
    """A DHCP message; `fingerprint` is option 55 as comma-separated codes (IoT Sentinel)."""

    op: int
    msg_type: int
    client_mac: str
    your_ip: str
    server_id: str | None
    hostname: str | None
    vendor_class: str | None
    fingerprint: str | None


def _ip(raw: bytes) -> str:
    return ".".join(str(b) for b in raw)


def parse_dhcp(payload: bytes) -> DhcpMessage | None:
    """Parse a DHCP message; None if it is not one."""
    if len(payload) < 240 or payload[236:240] != _MAGIC or payload[1] != 1 or payload[2] != 6:
        return None
    msg = DhcpMessage(payload[0], 0, payload[28:34].hex(":"), _ip(payload[16:20]),
                      None, None, None, None)
    pos = 240
    while pos < len(payload):
        code = payload[pos]
        if code == 255:
            break
        if code == 0:
            pos += 1
            continue
        if pos + 1 >= len(payload):
            break
        length = payload[pos + 1]
        value = payload[pos + 2:pos + 2 + length]
        if len(value) != length:
            break
        if code == 53 and length == 1:
            msg.msg_type = value[0]
        elif code == 54 and length == 4:
            msg.server_id = _ip(value)
        elif code == 12:
            msg.hostname = _text(value)
        elif code == 60:
            msg.vendor_class = _text(value)
        elif code == 55:
            msg.fingerprint = ",".join(str(b) for b in value)
        pos += 2 + length
    return msg if msg.msg_type else None


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace").strip("\x00").strip()[:128]
