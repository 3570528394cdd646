"""Spans that start at an anchor: labelled values, tokens, names, addresses, diagnoses.

The prefilter finds a short anchor (a label such as 姓名：, the BEGIN line of a key, the
first characters of a token); these functions return the span of the value itself, or None
when what follows is not one (a placeholder, a code expression, a place that is no address).
"""

from __future__ import annotations

import re

from classify import lexicon

HEXCOLON = frozenset("0123456789abcdefABCDEF:")

_SECRET_VALUE = re.compile(r"[^\s\x00\"',;，。；、)}\]<>]{4,128}")
_PLACEHOLDER = re.compile(r"(?:\*+|x+|X+|\.+|<.*|\$\{.*|%\(.*|\{\{.*|null|none|true|false|"
                          r"undefined|changeme|password|secret|token|key|密码|\?+)", re.IGNORECASE)


def secret_after_label(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The value after a secret label (password=, 密码：), unless a placeholder or code."""
    match = _SECRET_VALUE.match(text, end)
    if match is None or _PLACEHOLDER.fullmatch(match[0]) or _CODE_VALUE.search(match[0]):
        return None
    return match.start(), match.end()


_TOKEN_TAIL = re.compile(r"[A-Za-z0-9._~+/-]*=*")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_IPV6_BODY = re.compile(r"[0-9A-Fa-f:]{2,39}")


def after_bearer(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The token after "Bearer "."""
    tail = _TOKEN_TAIL.match(text, end)
    return start + len("Bearer "), (tail.end() if tail else end)


def token_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The whole token whose first characters the prefilter matched."""
    tail = _TOKEN_TAIL.match(text, end)
    return start, (tail.end() if tail else end)


def jwt_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """A complete three-part JWT starting at the anchor."""
    match = _JWT.match(text, start)
    return (start, match.end()) if match else None


def ipv6_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The colon-hex run the anchor starts, without a trailing lone colon."""
    if text[start] not in HEXCOLON:
        start += 1
    body = _IPV6_BODY.match(text, start)
    if body is None:
        return None
    stop = body.end()
    while stop > start and text[stop - 1] == ":" and text[stop - 2:stop] != "::":
        stop -= 1
    return start, stop


# Source code assigns expressions, not secrets: calls, subscripts, dotted or snake_case names.
_CODE_VALUE = re.compile(r"[(\[{]|^[A-Za-z_]+(?:[._][A-Za-z_]+)+$"
                         r"|^(?:None|Optional|Any|str|bytes|bool|int|dict|list)$")
_KEY_END = re.compile(r"-----END [A-Z ]*PRIVATE KEY-----")
_KEY_BODY = re.compile(r"[A-Za-z0-9+/=\s:-]{0,8192}")


def private_key(text: str, start: int, end: int) -> tuple[int, int] | None:
    """A PEM private key block, to its END line (or the end of its base64 body)."""
    close = _KEY_END.search(text, end, end + 16384)
    if close is not None:
        return start, close.end()
    body = _KEY_BODY.match(text, end)
    return start, (body.end() if body else end)


_NAME_BODY = re.compile(r"[\u4e00-\u9fff·]{2,5}")
_NAME_LEAD = re.compile(r"[:：\s]{0,3}")


def name_value(value: str) -> bool:
    """A whole value that reads as a Chinese personal name (surname plus 1-3 characters)."""
    value = value.strip()
    if not 2 <= len(value) <= 4 or not _NAME_BODY.fullmatch(value):
        return False
    if value[:2] in lexicon.SURNAMES_2:
        return len(value) >= 3
    return value[0] in lexicon.SURNAMES_1


def name_after_label(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The name after a label (姓名：张伟), cut before the next field word."""
    lead = _NAME_LEAD.match(text, end)
    at = lead.end() if lead else end
    body = _NAME_BODY.match(text, at)
    if body is None:
        return None
    name = body[0]
    for cut in range(2, len(name)):
        if name[cut:].startswith(lexicon.NAME_STOP_PREFIXES):
            name = name[:cut]
            break
    if len(name) > 4:
        name = name[:3]
    return (at, at + len(name)) if name_value(name) else None


def name_before_honorific(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The name before 先生/女士/老师…."""
    stop = end
    while stop > start and text[start:stop].endswith(lexicon.NAME_HONORIFICS):
        stop -= 2
    return (start, stop) if name_value(text[start:stop]) else None


_ADDRESS_BODY = re.compile(r"[\u4e00-\u9fffA-Za-z0-9#\-－()（）]{4,60}")
_ADDRESS_TAIL = re.compile("(?:" + "|".join(lexicon.STREET_MARKERS) + r")(?:\d+号?)?")


def address_span(text: str, at: int) -> tuple[int, int] | None:
    """The address starting at `at`: cut after its last street or number part, and only
    when an administrative part (省市区县…) comes before that."""
    body = _ADDRESS_BODY.match(text, at)
    if body is None:
        return None
    value = body[0]
    last = None
    for tail in _ADDRESS_TAIL.finditer(value):
        last = tail
    if last is None or not any(m in value[:last.start()] for m in lexicon.ADMIN_MARKERS):
        return None
    return at, at + last.end()


def address_anchor(text: str, start: int, end: int) -> tuple[int, int] | None:
    """An address starting at a province or city name."""
    return address_span(text, start)


def address_after_label(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The address after a label (住址：…)."""
    lead = _NAME_LEAD.match(text, end)
    return address_span(text, lead.end() if lead else end)


_MEDICAL_TEXT = re.compile(r"[^\s\x00，。；;,.!！?？、\"'}\]]{2,40}")


def medical_after_label(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The diagnosis after a label (诊断：…), up to punctuation."""
    lead = _NAME_LEAD.match(text, end)
    body = _MEDICAL_TEXT.match(text, lead.end() if lead else end)
    if body is None or body[0].strip() in MEDICAL_NEGATIVE:
        return None
    return body.start(), body.start() + len(body[0].rstrip())


MEDICAL_NEGATIVE = frozenset({"无", "没有", "正常", "健康", "否", "未见异常", "暂无", "none",
                              "n/a", "null", "-", "normal"})


_ASCII_TERMS = {t.lower(): t for t in lexicon.MEDICAL_TERMS if t.isascii()}


def medical_term(text: str, start: int, end: int) -> float | None:
    """Score a dictionary disease term; English terms need word boundaries."""
    value = text[start:end]
    if value.isascii():  # English: word boundaries, and acronyms in capitals (not "aids")
        canonical = _ASCII_TERMS.get(value.lower(), "")
        if (canonical.isupper() and value != canonical) or (
                (start and text[start - 1].isalnum())
                or (end < len(text) and text[end].isalnum())):
            return None
    return 0.6
