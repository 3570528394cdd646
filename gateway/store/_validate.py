"""Field checks shared by the repositories; each failure is an `InvalidRecord` naming the field."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime

from gateway.store.errors import InvalidRecord

_MAC = re.compile(r"^[0-9a-f]{2}([:-]?)[0-9a-f]{2}(\1[0-9a-f]{2}){4}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def text(value: object, field: str, *, max_len: int, required: bool = True) -> str:
    """A string of at most `max_len` characters, without control characters."""
    if not isinstance(value, str):
        raise InvalidRecord(f"{field}: must be a string, got {type(value).__name__}")
    if required and not value.strip():
        raise InvalidRecord(f"{field}: must not be empty")
    if len(value) > max_len:
        raise InvalidRecord(f"{field}: longer than {max_len} characters")
    if _CONTROL.search(value):
        raise InvalidRecord(f"{field}: contains control characters")
    return value


def long_text(value: object, field: str, *, max_len: int = 10_000) -> str:
    """Free text (comments, reasons): newlines and tabs allowed, other controls not."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidRecord(f"{field}: must be a non-empty string")
    if len(value) > max_len:
        raise InvalidRecord(f"{field}: longer than {max_len} characters")
    if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", value):
        raise InvalidRecord(f"{field}: contains control characters")
    return value


def actor(value: object, field: str = "by") -> str:
    """Who makes a change: a non-empty name for the audit trail."""
    return text(value, field, max_len=128)


def aware(value: object, field: str) -> datetime:
    """An aware datetime (naive times are refused, not guessed)."""
    if not isinstance(value, datetime):
        raise InvalidRecord(f"{field}: must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidRecord(f"{field}: naive datetime; give a time zone (UTC)")
    return value


def mac(value: object, field: str = "mac") -> str:
    """A MAC address in lower-case colon form."""
    if not isinstance(value, str) or not _MAC.match(value.strip().lower()):
        raise InvalidRecord(f"{field}: not a MAC address: {value!r}")
    digits = re.sub(r"[^0-9a-f]", "", value.lower())
    return ":".join(digits[i:i + 2] for i in range(0, 12, 2))


def ip(value: object, field: str = "ip") -> str:
    """An IPv4 or IPv6 address in canonical (compressed) form."""
    if not isinstance(value, str):
        raise InvalidRecord(f"{field}: not an IP address: {value!r}")
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise InvalidRecord(f"{field}: not an IP address: {value!r}") from None
