"""Masks: per-type partial masks, redaction, and keyed HMAC pseudonyms.

A partial mask keeps what people need to recognise a value (the area code of an ID, the last
four digits of a card) and hides what identifies the person. A pseudonym is the same for the
same value under the same key, so masked records can still be joined.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Literal

from classify.errors import MaskingError

Mode = Literal["mask", "redact", "pseudonym"]
MODES: tuple[str, ...] = ("mask", "redact", "pseudonym")
_DIGIT = re.compile(r"\d")


def _stars(n: int) -> str:
    return "*" * max(n, 0)


def mask_resident_id(value: str) -> str:
    """110101199003071234 -> 110101********1234 (area code and last four kept)."""
    return value[:6] + _stars(len(value) - 10) + value[-4:] if len(value) > 10 else _stars(
        len(value))


def mask_mobile(value: str) -> str:
    """13812345678 -> 138****5678; a +86 prefix and separators are kept."""
    if len(value) == 11 and value.isdigit():  # the usual shape, without the walk below
        return value[:3] + "****" + value[7:]
    positions = [i for i, c in enumerate(value) if c.isdigit()]
    chars = list(value)
    for index in positions[-11:][3:7]:
        chars[index] = "*"
    return "".join(chars)


def mask_landline(value: str) -> str:
    """010-12345678 -> 010-****5678."""
    positions = [i for i, c in enumerate(value) if c.isdigit()]
    area = 3 if value.lstrip("(")[:2] in ("01", "02") else 4
    hidden = set(positions[area:-4])
    return "".join("*" if i in hidden else c for i, c in enumerate(value))


def mask_bank_card(value: str) -> str:
    """6222021234567890 -> 6222 **** **** 7890 (grouped by four, first and last four kept)."""
    digits = value if value.isdigit() else "".join(c for c in value if c.isdigit())
    middle = _stars(len(digits) - 8)
    groups = [middle[i:i + 4] for i in range(0, len(middle), 4)]
    return " ".join([digits[:4], *groups, digits[-4:]])


def mask_email(value: str) -> str:
    """alice@example.com -> a***@example.com."""
    local, at, domain = value.partition("@")
    return (local[:1] + "***" + at + domain) if at else _stars(len(value))


def mask_keep_ends(value: str, head: int = 1, tail: int = 2) -> str:
    """E12345678 -> E******78."""
    if len(value) <= head + tail:
        return _stars(len(value))
    return value[:head] + _stars(len(value) - head - tail) + value[len(value) - tail:]


def mask_uscc(value: str) -> str:
    """91350100M000100Y43 -> 91350100*********3: registration and area kept, the check too."""
    return mask_keep_ends(value, 8, 1)


def mask_plate(value: str) -> str:
    """京A12345 -> 京A***45."""
    return mask_keep_ends(value, 2, 2)


def mask_ipv4(value: str) -> str:
    """192.168.10.23 -> 192.168.*.*."""
    parts = value.split(".")
    return ".".join(parts[:2] + ["*"] * (len(parts) - 2))


def mask_ipv6(value: str) -> str:
    """2001:db8:1::7 -> 2001:db8:*: the routing prefix kept, the interface hidden."""
    parts = value.split(":")
    return ":".join(parts[:2]) + ":*"


def mask_mac(value: str) -> str:
    """aa:bb:cc:dd:ee:ff -> aa:bb:cc:**:**:** (the vendor OUI kept)."""
    sep = ":" if ":" in value else "-" if "-" in value else "."
    if sep == ".":
        return value[:7] + "**.****"
    parts = value.split(sep)
    return sep.join(parts[:3] + ["**"] * (len(parts) - 3))


def mask_imei(value: str) -> str:
    """The 8-digit type allocation code kept, the serial and check hidden."""
    return mask_keep_ends(value, 8, 0)


def mask_gps(value: str) -> str:
    """39.904211, 116.407395 -> 39.9*, 116.4* (about 10 km)."""
    return re.sub(r"(-?\d{1,3}\.\d)\d+", r"\1*", value)


def mask_name(value: str) -> str:
    """张三丰 -> 张**."""
    return value[:1] + _stars(len(value) - 1)


def mask_address(value: str) -> str:
    """Keeps up to the district or county, hides the street and number."""
    for index, char in enumerate(value):
        if char in "区县旗" and index < len(value) - 1:
            return value[:index + 1] + "****"
    return value[:min(6, len(value) // 2)] + "****"


def mask_document(value: str) -> str:
    """Passport and permit numbers: first letter(s) and last two digits kept."""
    head = 2 if len(value) > 2 and value[1].isalpha() else 1
    return mask_keep_ends(value, head, 2)


def redact(value: str) -> str:
    """Everything hidden behind a fixed marker."""
    return "[REDACTED]"


def mask_digits(value: str) -> str:
    """Every digit hidden, the shape kept."""
    return _DIGIT.sub("*", value)


MASKS: Mapping[str, Callable[[str], str]] = {
    "resident_id": mask_resident_id,
    "mobile": mask_mobile,
    "landline": mask_landline,
    "bank_card": mask_bank_card,
    "email": mask_email,
    "uscc": mask_uscc,
    "plate": mask_plate,
    "ipv4": mask_ipv4,
    "ipv6": mask_ipv6,
    "mac": mask_mac,
    "imei": mask_imei,
    "gps": mask_gps,
    "name": mask_name,
    "address": mask_address,
    "document": mask_document,
    "digits": mask_digits,
    "keep_ends": mask_keep_ends,
    "redact": redact,
}


_NOT_DIGIT = re.compile(r"\D")
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")
_PLATE_SEPARATORS = re.compile(r"[\s\-·•]")


def _phone_digits(value: str) -> str:
    digits = _NOT_DIGIT.sub("", value)
    return digits[2:] if len(digits) == 13 and digits.startswith("86") else digits


def _address(value: str) -> str:
    try:
        return ipaddress.ip_address(value.strip()).compressed
    except ValueError:
        return value.strip().lower()


_CANONICAL: Mapping[str, Callable[[str], str]] = {
    "cn_mobile": _phone_digits,
    "cn_landline": lambda v: _NOT_DIGIT.sub("", v),
    "bank_card": lambda v: _NOT_DIGIT.sub("", v),
    "imei": lambda v: _NOT_DIGIT.sub("", v),
    "cn_resident_id": lambda v: _NOT_ALNUM.sub("", v).upper(),
    "cn_uscc": lambda v: _NOT_ALNUM.sub("", v).upper(),
    "cn_passport": lambda v: _NOT_ALNUM.sub("", v).upper(),
    "hk_macau_permit": lambda v: _NOT_ALNUM.sub("", v).upper(),
    "cn_license_plate": lambda v: _PLATE_SEPARATORS.sub("", v).upper(),
    "email": lambda v: v.strip().lower(),
    "mac_address": lambda v: _NOT_ALNUM.sub("", v).lower(),
    "ipv4": _address,
    "ipv6": _address,
}


def canonical(finding_type: str, value: str) -> str:
    """The form of `value` a pseudonym is computed from: one person's number written two
    ways (138-1234-5678, +86 13812345678, 13812345678) gets one pseudonym. Types without a
    rule (names, addresses, custom types) are taken as written."""
    normalise = _CANONICAL.get(finding_type)
    return value if normalise is None else normalise(value)


class Masker:
    """Turns a found value into its replacement in one of three modes.

    `mask` applies the detector's partial mask, `redact` a fixed marker naming the type,
    `pseudonym` a keyed HMAC-SHA256 tag of the type and the value's `canonical` form, stable
    for a value under one key whatever its formatting.
    """

    def __init__(self, mode: str = "mask", key: bytes | None = None) -> None:
        if mode not in MODES:
            raise MaskingError(f"mode: must be one of {', '.join(MODES)}, got {mode!r}")
        if mode == "pseudonym" and (key is None or len(key) < 16):
            raise MaskingError("pseudonym mode needs an HMAC key of at least 16 bytes")
        self.mode = mode
        self._key = key

    def replace(self, finding_type: str, mask: str, value: str) -> str:
        """The replacement for `value`, found as `finding_type` with mask name `mask`."""
        if self.mode == "redact":
            return f"[{finding_type.upper()}]"
        if self.mode == "pseudonym":
            if self._key is None:  # guarded in __init__; kept for the type checker
                raise MaskingError("pseudonym mode needs an HMAC key")
            plain = canonical(finding_type, value)
            tag = hmac.new(self._key, f"{finding_type}\x00{plain}".encode(),
                           hashlib.sha256).hexdigest()[:16]
            return f"{finding_type}_{tag}"
        return MASKS[mask](value)
