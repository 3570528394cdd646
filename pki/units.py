"""Parsing and formatting of durations and serial numbers as people type them."""

from __future__ import annotations

import re
from datetime import timedelta

from pki.errors import InvalidArgument

__all__ = ["format_duration", "format_serial", "parse_duration", "parse_serial"]

_DURATION = re.compile(r"(\d{1,9})([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_HEX = re.compile(r"[0-9a-f]{1,40}")


def parse_duration(text: str, what: str = "duration") -> timedelta:
    """Parse `90s`, `30m`, `24h`, `7d` or a sum like `1d12h`; raises InvalidArgument."""
    cleaned = text.strip().lower()
    pos, total = 0, 0
    for match in _DURATION.finditer(cleaned):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not cleaned or pos != len(cleaned):
        raise InvalidArgument(
            f"{what} {text!r} is not a duration like 90s, 30m, 24h, 7d or 1d12h"
        )
    return timedelta(seconds=total)


def format_duration(delta: timedelta) -> str:
    """The inverse of parse_duration, largest units first (`1d12h`)."""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, _UNIT_SECONDS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def parse_serial(text: str) -> int:
    """Parse a serial number written in hex (`4f:a2…`, `0x4FA2…` or `4fa2…`)."""
    cleaned = text.strip().lower().replace(":", "")
    cleaned = cleaned.removeprefix("0x")
    if not _HEX.fullmatch(cleaned) or int(cleaned, 16) == 0:
        raise InvalidArgument(
            f"serial {text!r} is not a positive hexadecimal number of at most 20 bytes "
            "(as `zonegate pki list` prints it)"
        )
    return int(cleaned, 16)


def format_serial(serial: int) -> str:
    """Lowercase hex without separators, as `list` prints and `revoke --serial` reads."""
    return f"{serial:x}"
