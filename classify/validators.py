"""Checksums and format rules for the identifiers classify reports.

Each function takes the matched text and answers whether it really is that identifier.
They are pure and cheap: the scanner calls them for every candidate the prefilter finds.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import re

_NON_DIGIT = re.compile(r"[^0-9]")

# GB/T 2260 province-level codes, plus 71 (Taiwan), 81/82/83 (HK, Macau, Taiwan residents'
# residence permits, GB 11643 area codes 810000/820000/830000).
PROVINCES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
     50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71}
)
_PERMIT_AREAS = frozenset({"810000", "820000", "830000"})
_RIC_CHECK = "10X98765432"


def ric_check_digit(first17: str) -> str:
    """GB 11643 MOD 11-2 check character for the first 17 digits."""
    # The weights are 2**(17-i) mod 11, so the weighted sum is twice the digits read as a
    # base-13 number (13 = 2 mod 11), modulo 11: one int() call instead of a Python loop.
    if len(first17) != 17 or not (first17.isascii() and first17.isdigit()):
        raise ValueError(f"ric_check_digit: need 17 ASCII digits, got {first17!r}")
    return _RIC_CHECK[2 * int(first17, 13) % 11]


def ric_birth_date(number: str) -> _dt.date | None:
    """Birth date encoded in an 18-character resident ID, or None if it is not a date."""
    try:
        return _dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def resident_id(number: str, today: _dt.date) -> _dt.date | None:
    """Validate a resident ID (or HK/Macau/Taiwan residence permit, or the 2023 foreign
    permanent residence card, whose number starts with 9 and a province code). Returns the
    birth date when valid, else None."""
    if len(number) != 18 or not number.isascii() or not number[:17].isdigit():
        return None
    if number[0] == "9":
        if int(number[1:3]) not in PROVINCES:
            return None
    elif int(number[:2]) not in PROVINCES and number[:6] not in _PERMIT_AREAS:
        return None
    # The check digit first (ric_check_digit without its argument checks, done above): it
    # turns away most numbers that are no ID, and costs less than building the date.
    if _RIC_CHECK[2 * int(number[:17], 13) % 11] != number[17].upper():
        return None
    try:
        born = _dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None
    if born > today or born.year < 1900:
        return None
    return born


_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_SET = frozenset(_USCC_ALPHABET)
_USCC_AS_BASE34 = str.maketrans(_USCC_ALPHABET, "0123456789ABCDEFGHIJKLMNOPQRSTU")
_LUHN_DOUBLE = str.maketrans("0123456789", "0246813579")


def uscc(code: str) -> bool:
    """GB 32100 unified social credit code: registration authority, type and mod-31 check."""
    code = code.upper()
    if len(code) != 18 or not _USCC_SET.issuperset(code):
        return False
    if code[0] not in "123456789ABCDEFGY" or not code[2:8].isdigit():
        return False
    if int(code[2:4]) not in PROVINCES and code[2:4] != "10":
        return False
    # The weights are 3**i mod 31: the code's values, reversed and read in base 34
    # (34 = 3 mod 31), give the weighted sum modulo 31 in one int() call.
    total = int(code[16::-1].translate(_USCC_AS_BASE34), 34)
    return _USCC_ALPHABET[(31 - total % 31) % 31] == code[17]


def luhn(digits: str) -> bool:
    """The Luhn mod-10 check used by payment cards and IMEIs (False unless all digits)."""
    if not (digits.isascii() and digits.isdigit()):
        return False
    # Sum of the digits from the right: every second one doubled (its digit sum kept),
    # summed as bytes rather than char by char.
    plain = digits[::-2].encode("ascii")
    doubled = digits[-2::-2].translate(_LUHN_DOUBLE).encode("ascii")
    return (sum(plain) + sum(doubled) - 48 * len(digits)) % 10 == 0


def card_bin(digits: str) -> bool:
    """Issuer prefix and length of a payment card network seen in China."""
    n = len(digits)
    if digits.startswith("62") or digits.startswith("60"):
        return 16 <= n <= 19  # UnionPay and domestic debit
    if digits[0] == "4":
        return n in (13, 16, 19)
    if digits[:2] in ("51", "52", "53", "54", "55") or "2221" <= digits[:4] <= "2720":
        return n == 16
    if digits[:2] in ("34", "37"):
        return n == 15
    if digits[:2] == "35":
        return 16 <= n <= 19
    if digits.startswith("65") or digits.startswith("6011"):
        return 16 <= n <= 19
    return False


# MIIT-assigned 3-digit mobile prefixes (public mobile, virtual operators, satellite 1740x).
# Unassigned or IoT-only (13-digit) prefixes such as 140-144, 146, 148, 154, 160, 161, 163,
# 164, 168, 169, 179 and 194 are rejected.
MOBILE_PREFIXES = frozenset(
    [*range(130, 140), 145, 147, 149, 150, 151, 152, 153, 155, 156, 157, 158, 159,
     162, 165, 166, 167, *range(170, 179), *range(180, 190),
     190, 191, 192, 193, 195, 196, 197, 198, 199]
)


def digits_of(text: str) -> str:
    """The decimal digits of `text`, in order."""
    if text.isascii() and text.isdigit():
        return text
    return _NON_DIGIT.sub("", text)


def mobile(text: str) -> bool:
    """An 11-digit mainland mobile number with an assigned prefix (country code allowed)."""
    if len(text) == 11 and text.isascii() and text.isdigit():  # the usual shape
        return int(text[:3]) in MOBILE_PREFIXES
    digits = digits_of(text)
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return len(digits) == 11 and int(digits[:3]) in MOBILE_PREFIXES


def landline(text: str) -> bool:
    """Area code (010, 02x or 0[3-9]xx) and a 7-8 digit subscriber number starting 2-9."""
    digits = digits_of(text)
    if digits.startswith("10") or digits.startswith("2"):
        return False
    area = 3 if digits[:2] in ("01", "02") else 4
    if digits[:2] == "01" and digits[:3] != "010":
        return False
    subscriber = digits[area:]
    return len(subscriber) in (7, 8) and subscriber[0] not in "01"


def imei(text: str) -> bool:
    """A 15-digit IMEI with a Luhn check digit and a plausible reporting body."""
    digits = digits_of(text)
    return len(digits) == 15 and digits[:2] != "00" and luhn(digits)


def ipv4(text: str) -> bool:
    """Four dotted octets in range."""
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def ipv6(text: str) -> bool:
    """A valid IPv6 address with at least three groups (not a clock time or a ratio)."""
    if text.count(":") < 2 or not ipv6_address(text):
        return False
    groups = [g for g in text.split(":") if g]
    if len(groups) < 3 and all(len(g) < 3 for g in groups):
        return False  # 1::2 is a slice more often than an address
    return len(groups) >= 2 and (any(c.isalpha() for c in text) or "::" in text
                                 or len(groups) == 8)


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_HEX_COLON = frozenset("0123456789abcdefABCDEF:")


def ipv6_address(text: str) -> bool:
    """Whether `ipaddress.IPv6Address(text)` accepts `text`, without building one.

    The same rules as the standard library's parser (CPython 3.11, `_ip_int_from_string`)
    for text of hex digits and colons, which is all the prefilter passes; anything else
    (an embedded IPv4 address, a scope) goes to `ipaddress` itself. The parser raises and
    builds an integer: about twenty times the cost of this for a candidate.
    """
    if not _HEX_COLON.issuperset(text):
        try:
            ipaddress.IPv6Address(text)
        except ValueError:
            return False
        return True
    parts = text.split(":")
    count = len(parts)
    if count < 3 or count > 9:
        return False
    skip = -1
    for index in range(1, count - 1):
        if not parts[index]:
            if skip >= 0:
                return False  # a second '::'
            skip = index
    if skip >= 0:
        high, low = skip, count - skip - 1
        if not parts[0]:
            high -= 1
            if high:
                return False  # a leading ':' that is not '::'
        if not parts[-1]:
            low -= 1
            if low:
                return False  # a trailing ':' that is not '::'
        if high + low > 7:
            return False
        hextets = parts[:high] + parts[count - low:] if low else parts[:high]
    else:
        if count != 8 or not parts[0] or not parts[-1]:
            return False
        hextets = parts
    return all(0 < len(part) <= 4 and _HEX_DIGITS.issuperset(part) for part in hextets)


def coordinates(lat_text: str, lon_text: str) -> bool:
    """A latitude/longitude pair in range with at least four decimals (about 10 m)."""
    try:
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        return False
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return False
    return _decimals(lat_text) >= 4 and _decimals(lon_text) >= 4


def _decimals(text: str) -> int:
    return len(text.partition(".")[2])


_PLATE_LETTERS = set("ABCDEFGHJKLMNPQRSTUVWXYZ")


def licence_plate(text: str) -> bool:
    """Ordinary plate (5 characters, at most 2 letters) or a new-energy plate (D/F rules)."""
    if text[1] == "I":
        return False
    body = "".join(c for c in text[2:] if c.isalnum())
    if len(body) == 6:  # new energy: D/F then 5, or 5 digits then D/F
        if body[0] in "DF" and body[2:].isdigit() and (body[1].isdigit() or body[1] in
                                                        _PLATE_LETTERS):
            return True
        return body[:5].isdigit() and body[5] in "DF"
    if len(body) != 5:
        return False
    letters = sum(1 for c in body if c.isalpha())
    return letters <= 2 and all(c.isdigit() or c in _PLATE_LETTERS for c in body)
