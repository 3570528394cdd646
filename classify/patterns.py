"""Built-in detectors: a prefilter regex (Hyperscan syntax) per shape, then a Python check.

The prefilter only finds candidates; `check` decides, from the text around the span, whether
the candidate is that identifier and with what base score. `extend` turns an anchor (a label
such as 姓名：, the BEGIN line of a key) into the span of the value itself.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable
from dataclasses import dataclass

from classify import extenders, lexicon, validators

Check = Callable[[str, int, int], float | None]
Extend = Callable[[str, int, int], tuple[int, int] | None]


@dataclass(frozen=True, slots=True)
class PatternSpec:
    """One prefilter expression for a finding type."""

    type: str
    regex: str
    score: float
    check: Check | None = None
    extend: Extend | None = None
    caseless: bool = False
    # The check is specific enough that a value passing it in full is trusted over an
    # exclusion word that does not label it (see scanner): a check digit (and for IDs a
    # date and area), a mobile number's assigned carrier prefix, a landline's area code.
    fail_closed: bool = False


def _alt(words: tuple[str, ...] | frozenset[str]) -> str:
    return "(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + ")"


def _isolated(text: str, start: int, end: int) -> bool:
    """No digit run continues across a dot or dash on either side (1.2.3.4.5, 2023-138…)."""
    if start >= 2 and text[start - 1] in ".-" and text[start - 2].isdigit():
        return False
    return not (end + 2 <= len(text) and text[end] in ".-" and text[end + 1].isdigit())


_DATE_LIKE = re.compile(r"(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])")


def _resident_id(today: Callable[[], _dt.date]) -> Check:
    def check(text: str, start: int, end: int) -> float | None:
        if validators.resident_id(text[start:end], today()) is None:
            return None
        return 0.95 if _isolated(text, start, end) else None
    return check


def _mobile(text: str, start: int, end: int) -> float | None:
    if not validators.mobile(text[start:end]) or not _isolated(text, start, end):
        return None
    return 0.85


def _landline(text: str, start: int, end: int) -> float | None:
    value = text[start:end]
    if not validators.landline(value) or not _isolated(text, start, end):
        return None
    if "-" in value or "(" in value:
        return 0.75
    return 0.55 if " " in value else 0.35


def _bank_card(unverified: Callable[[], float]) -> Check:
    def check(text: str, start: int, end: int) -> float | None:
        digits = validators.digits_of(text[start:end])
        if not validators.card_bin(digits) or not _isolated(text, start, end):
            return None
        if validators.luhn(digits):
            return 0.9
        score = unverified()
        return score if score > 0 else None
    return check


def _uscc(text: str, start: int, end: int) -> float | None:
    value = text[start:end]
    if not validators.uscc(value):
        return None
    # One 18-digit number in 31 passes the check by chance (order numbers, IDs with a bad
    # check digit), and so does one resident ID ending in X in 31: a code with the shape of
    # a resident ID needs a keyword, so an L1 code never outranks the ID it overlaps.
    return 0.3 if value[:17].isdigit() and value[17] in "0123456789Xx" else 0.85


def _document_number(base: float) -> Check:
    def check(text: str, start: int, end: int) -> float | None:
        value = text[start:end]
        if len(set(value[-7:])) == 1:
            return None  # EM0000000: a placeholder
        if _DATE_LIKE.fullmatch(value[-8:]):
            return base - 0.25  # E20231125 is far more often a dated code than a passport
        return base
    return check


def _plate(text: str, start: int, end: int) -> float | None:
    return 0.8 if validators.licence_plate(text[start:end]) else None


_EMAIL_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_EMAIL_DOMAIN = re.compile(r"[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}\b",
                           re.ASCII)


def _email_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    at = start + 1
    domain = _EMAIL_DOMAIN.match(text, at + 1)
    if domain is None:
        return None
    first = start
    while first > 0 and start - first < 64 and text[first - 1] in _EMAIL_LOCAL:
        first -= 1
    return first, domain.end()


def _email(text: str, start: int, end: int) -> float | None:
    value = text[start:end]
    local, _, domain = value.partition("@")
    if local.startswith(".") or local.endswith(".") or ".." in value or domain.startswith("-"):
        return None
    return 0.9


def _ipv4(text: str, start: int, end: int) -> float | None:
    # the prefilter already bounds every octet to 0-255
    return 0.7 if _isolated(text, start, end) else None




def _ipv6(text: str, start: int, end: int) -> float | None:
    hexcolon = extenders.HEXCOLON  # and no letters either side: Backtrace::Frame is Perl
    if (start and (text[start - 1] in hexcolon or text[start - 1].isalnum())) or (
            end < len(text) and (text[end] in hexcolon or text[end].isalnum())):
        return None
    return 0.8 if validators.ipv6(text[start:end]) else None


def _mac(text: str, start: int, end: int) -> float | None:
    if (end < len(text) and text[end] == ":") or (start and text[start - 1] == ":"):
        return None
    value = text[start:end]
    return 0.8 if any(c.isalpha() for c in value) else 0.6


def _imei(text: str, start: int, end: int) -> float | None:
    return 0.35 if validators.imei(text[start:end]) else None


_MORE_AFTER = re.compile(r"\s*[,，]\s*-?\d")
_MORE_BEFORE = re.compile(r"\d\s*[,，]\s*$")
_PAIR = re.compile(r"(-?\d{1,3}\.\d+)\s*[,，]\s*(-?\d{1,3}\.\d+)")


def _gps_pair(text: str, start: int, end: int) -> float | None:
    match = _PAIR.fullmatch(text, start, end)
    if match is None or not validators.coordinates(match[1], match[2]):
        return None
    if _MORE_AFTER.match(text, end) or _MORE_BEFORE.search(text[max(0, start - 4):start]):
        return None  # one pair out of a longer list of numbers
    if abs(float(match[1])) < 1 and abs(float(match[2])) < 1:
        return None  # fractions such as 0.69646919, 0.28613933
    if min(len(match[1].partition(".")[2]), len(match[2].partition(".")[2])) < 5:
        return 0.4  # 4 decimals: a keyword (坐标, GPS) must vouch for it
    return 0.6 if _isolated(text, start, end) else None


_LON = re.compile(r"[^\d\n\x00]{1,12}?(?:经度|lng|lon(?:gitude)?)[\s:=：]{0,3}(-?\d{1,3}\.\d{4,8})",
                  re.IGNORECASE)
_LAT_VALUE = re.compile(r"-?\d{1,2}\.\d{4,8}$")


def _gps_labelled(text: str, start: int, end: int) -> tuple[int, int] | None:
    lat = _LAT_VALUE.search(text, start, end)
    lon = _LON.match(text, end)
    if lat is None or lon is None or not validators.coordinates(lat[0], lon[1]):
        return None
    return lat.start(), lon.end(1)


_CJK_PLATE = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE_LETTER = "[A-HJ-Z]"  # O is the police issuing code; I is never issued
# Label words that introduce a secret (not a secret themselves).
_SECRET_LABELS = (
    r"(?:password|passwd|pwd|passcode|secret|api[_-]?key|apikey|access[_-]?key|"  # noqa: S105
    r"secret[_-]?key|access[_-]?token|auth[_-]?token|client[_-]?secret|密码|口令|密钥)")


def builtin_patterns(today: Callable[[], _dt.date],
                     unverified_card_score: Callable[[], float]) -> list[PatternSpec]:
    """Every built-in prefilter expression, in no particular order."""
    surnames = _alt(lexicon.SURNAMES_1 | lexicon.SURNAMES_2)
    places = (_alt(lexicon.PROVINCES)
              + "(?:省|市|自治区|壮族自治区|回族自治区|维吾尔自治区|特别行政区)"
              + "|" + _alt(lexicon.CITIES) + "市")
    return [
        PatternSpec("cn_resident_id", r"\b\d{17}[\dXx]\b", 0.95, _resident_id(today),
                    fail_closed=True),
        PatternSpec("cn_mobile", r"\b1[3-9]\d{9}\b", 0.85, _mobile, fail_closed=True),
        PatternSpec("cn_mobile", r"\+86[ -]?1[3-9]\d{9}\b", 0.85, _mobile, fail_closed=True),
        PatternSpec("cn_mobile", r"\b1[3-9]\d[ -]\d{4}[ -]\d{4}\b", 0.85, _mobile,
                    fail_closed=True),
        # only the full shape (area code set off by a dash or brackets) scores the base and
        # so fails closed; bare digit runs keep the plain penalty
        PatternSpec("cn_landline", r"(?:\(0\d{2,3}\)|\b0\d{2,3})[- ]?[2-9]\d{6,7}\b", 0.75,
                    _landline, fail_closed=True),
        PatternSpec("bank_card", r"\b[2-6]\d{12,18}\b", 0.9,
                    _bank_card(unverified_card_score), fail_closed=True),
        PatternSpec("bank_card", r"\b[2-6]\d{3}(?:[ -]\d{4}){2,3}(?:[ -]\d{1,4})?\b", 0.9,
                    _bank_card(unverified_card_score), fail_closed=True),
        PatternSpec("bank_card", r"\b6\d{5}[ -]\d{13}\b", 0.9, _bank_card(unverified_card_score),
                    fail_closed=True),
        PatternSpec("cn_uscc", r"\b[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}\b", 0.85,
                    _uscc),
        PatternSpec("cn_passport", r"\bE\d{8}\b", 0.55, _document_number(0.55)),
        PatternSpec("cn_passport", r"\bE[A-HJ-NP-Z]\d{7}\b", 0.6, _document_number(0.6)),
        PatternSpec("cn_passport", r"\bG\d{8}\b", 0.5, _document_number(0.5)),
        PatternSpec("cn_passport", r"\b[DSP]E\d{7}\b", 0.55, _document_number(0.55)),
        PatternSpec("cn_passport", r"\b(?:[DS]\d{8}|P\d{7})\b", 0.35, _document_number(0.35)),
        PatternSpec("hk_macau_permit", r"\bC[0-9A-HJ-NP-Z]\d{7}\b", 0.45, _document_number(0.45)),
        PatternSpec("hk_macau_permit", r"\bW\d{8}\b", 0.4, _document_number(0.4)),
        PatternSpec("hk_macau_permit", r"\b[HM]\d{8}(?:\d{2})?\b", 0.45,
                    _document_number(0.45)),
        PatternSpec("cn_license_plate",
                    f"[{_CJK_PLATE}]{_PLATE_LETTER}[-·• ]?[A-HJ-NP-Z0-9]{{5,6}}\\b", 0.8, _plate),
        PatternSpec("email", r"[A-Za-z0-9._%+-]@[A-Za-z0-9]", 0.9, _email, extend=_email_span),
        PatternSpec("ipv4", r"\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}"
                            r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b", 0.7, _ipv4),
        PatternSpec("ipv6", r"(?:^|[^0-9A-Fa-f:])[0-9A-Fa-f]{1,4}::?[0-9A-Fa-f]{0,4}:", 0.8,
                    _ipv6, extend=extenders.ipv6_span),
        PatternSpec("mac_address", r"\b[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}\b", 0.8, _mac),
        PatternSpec("mac_address", r"\b[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5}\b", 0.8, _mac),
        PatternSpec("mac_address", r"\b[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\b", 0.8,
                    _mac),
        PatternSpec("imei", r"\b\d{15}\b", 0.35, _imei),
        PatternSpec("gps_coordinate", r"(?:-|\b)\d{1,2}\.\d{4,8}\s?[,，]\s?-?\d{1,3}\.\d{4,8}\b",
                    0.6, _gps_pair),
        PatternSpec("gps_coordinate", r"(?:纬度|lat(?:itude)?)[\s:=：]{0,3}-?\d{1,2}\.\d{4,8}",
                    0.8, extend=_gps_labelled, caseless=True),
        PatternSpec("credential", _SECRET_LABELS + r"[\"']?\s{0,3}[:=：]\s{0,3}[\"']?", 0.8,
                    extend=extenders.secret_after_label, caseless=True),
        PatternSpec("credential", r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY"
                                  r"-----", 0.99, extend=extenders.private_key),
        PatternSpec("credential", r"\beyJ[A-Za-z0-9_-]{8}", 0.9, extend=extenders.jwt_span),
        PatternSpec("credential", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", 0.9),
        PatternSpec("credential", r"\bgh[pousr]_[A-Za-z0-9]{36}\b", 0.9),
        PatternSpec("credential", r"\bsk-[A-Za-z0-9_-]{20}", 0.75, extend=extenders.token_span),
        PatternSpec("credential", r"\bAIza[0-9A-Za-z_-]{35}", 0.85),
        PatternSpec("credential", r"\bxox[abprs]-[A-Za-z0-9-]{10}", 0.85,
                    extend=extenders.token_span),
        PatternSpec("credential", r"\bBearer\s[A-Za-z0-9._~+/-]{20}", 0.8,
                    extend=extenders.after_bearer),
        PatternSpec("medical", _alt(lexicon.MEDICAL_TERMS), 0.6, extenders.medical_term,
                    caseless=True),
        PatternSpec("medical", _alt(lexicon.MEDICAL_LABELS) + r"[:：]", 0.8,
                    extend=extenders.medical_after_label, caseless=True),
        PatternSpec("person_name", _alt(lexicon.NAME_LABELS) + r"[:：]?", 0.8,
                    extend=extenders.name_after_label),
        PatternSpec("person_name", surnames + r"[\x{4e00}-\x{9fa5}]{1,2}"
                    + _alt(lexicon.NAME_HONORIFICS), 0.7, extend=extenders.name_before_honorific),
        PatternSpec("address", f"(?:{places})", 0.7, extend=extenders.address_anchor),
        PatternSpec("address", _alt(lexicon.ADDRESS_LABELS) + r"[:：]?", 0.8,
                    extend=extenders.address_after_label),
    ]
