"""Cleartext authentication in Telnet, FTP and HTTP Basic payloads.

Evidence never carries the secret itself: only the user name and the secret's length.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

_HTTP_METHODS = (b"GET ", b"POST ", b"PUT ", b"DELETE ", b"HEAD ", b"PATCH ", b"OPTIONS ")
_BASIC = re.compile(rb"\r?\nauthorization:[ \t]*basic[ \t]+([A-Za-z0-9+/=]{1,1024})", re.I)
_TELNET_PASSWORD_PROMPT = re.compile(rb"password\s*:\s*$", re.I)
_TELNET_LOGIN_PROMPT = re.compile(rb"login\s*:\s*$", re.I)


@dataclass(slots=True, frozen=True)
class Credential:
    """A credential seen in cleartext."""

    protocol: str
    username: str | None
    secret_length: int


def http_basic(payload: bytes) -> Credential | None:
    """An HTTP request carrying `Authorization: Basic`."""
    if not payload.startswith(_HTTP_METHODS):
        return None
    match = _BASIC.search(payload, 0, 8192)
    if match is None:
        return None
    try:
        decoded = base64.b64decode(match.group(1), validate=True)
    except (binascii.Error, ValueError):
        return Credential("http", None, len(match.group(1)))
    user, _sep, secret = decoded.partition(b":")
    return Credential("http", user.decode("utf-8", "replace")[:128], len(secret))


def ftp_command(payload: bytes) -> tuple[str, str] | None:
    """('USER', name) or ('PASS', '') for an FTP client command line."""
    head = payload[:5].upper()
    if head == b"USER ":
        return "USER", payload[5:].strip().decode("utf-8", "replace")[:128]
    if head == b"PASS ":
        return "PASS", str(len(payload[5:].strip()))
    return None


def telnet_prompt(payload: bytes) -> str | None:
    """'login' or 'password' when a Telnet server payload ends with that prompt."""
    text = payload.replace(b"\x00", b"").rstrip()[-64:]
    if _TELNET_PASSWORD_PROMPT.search(text):
        return "password"
    if _TELNET_LOGIN_PROMPT.search(text):
        return "login"
    return None


def telnet_text(payload: bytes) -> bytes:
    """The payload with Telnet IAC option negotiation removed."""
    out = bytearray()
    i = 0
    n = len(payload)
    while i < n:
        byte = payload[i]
        if byte == 0xFF and i + 1 < n:
            cmd = payload[i + 1]
            if cmd == 0xFF:
                out.append(0xFF)
                i += 2
            elif cmd == 0xFA:
                end = payload.find(b"\xff\xf0", i + 2)
                i = n if end < 0 else end + 2
            elif 0xFB <= cmd <= 0xFE:
                i += 3
            else:
                i += 2
        else:
            out.append(byte)
            i += 1
    return bytes(out)
