"""One Hyperscan pass finds every candidate and every keyword; Python then checks and scores.

The whole pattern set (built-in shapes, custom catalog patterns, context keywords) is one
Hyperscan block-mode database, so the text is read once whatever the number of detectors.
Hyperscan works on UTF-8 bytes; offsets are turned back into code points only for the few
places that matched.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import operator
import re
import threading
from collections.abc import Callable, Sequence

import hyperscan

from classify.catalog import Catalog
from classify.errors import CatalogError
from classify.patterns import PatternSpec, builtin_patterns

_FLAGS = hyperscan.HS_FLAG_UTF8 | hyperscan.HS_FLAG_SOM_LEFTMOST
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_FIRST = operator.itemgetter(0)
_SECOND = operator.itemgetter(1)
# What may stand between an exclusion word and the value it labels: 订单号：…, 订单编号为…,
# order no. …, tracking #…. Anything else (a digit, another word) means the word is about
# something else in the sentence.
_LABEL_GAP = re.compile(r"(?:[\s:：#＃=\-_.'\"(（\[【]|no|nr|num|number|id|ref|code|"
                        r"号码|编号|编码|单号|号|码|为|是)*", re.IGNORECASE)
_LABEL_GAP_MAX = 36  # bytes: 12 CJK characters


class Candidate:
    """A checked match with its context-adjusted score (not yet thresholded), and where it
    was found.

    A plain class, not a dataclass: the scan builds one per match, and mypyc compiles this
    `__init__` to C where a dataclass's generated one stays interpreted (2.7k instructions a
    candidate, callgrind).
    """

    __slots__ = ("end", "path", "record", "score", "start", "type", "value")

    def __init__(self, type: str, start: int, end: int, score: float, value: str,
                 path: str | None = None, record: str = "$") -> None:
        self.type = type
        self.start = start
        self.end = end
        self.score = score
        self.value = value
        self.path = path  # set for JSON and CSV values
        self.record = record  # the record (array element, CSV row) it belongs to

    def __repr__(self) -> str:
        return (f"Candidate({self.type!r}, {self.start}, {self.end}, {self.score!r}, "
                f"path={self.path!r}, record={self.record!r})")


class Scanner:
    """Compiled matcher for one catalog. Thread-safe: each thread gets its own scratch."""

    def __init__(self, catalog: Catalog, today: Callable[[], _dt.date]) -> None:
        self.catalog = catalog
        enabled = {name for name, spec in catalog.detectors.items() if spec.enabled}
        card = catalog.detectors.get("bank_card")
        unverified = card.unverified_score if card is not None else 0.0
        specs = [p for p in builtin_patterns(today, lambda: unverified) if p.type in enabled]
        for name, detector in catalog.detectors.items():
            if detector.enabled and detector.pattern is not None:
                specs.append(PatternSpec(name, detector.pattern, detector.score))
        self._specs: list[PatternSpec] = specs
        # what the per-candidate loop reads, as one tuple per expression id
        self._hot = [(spec.type, spec.score, spec.check, spec.extend, spec.fail_closed)
                     for spec in specs]
        # per keyword: (type, +boost or -penalty) pairs; a boost wins over a penalty
        self._keywords: list[dict[str, float]] = []
        expressions: list[bytes] = []
        flags: list[int] = []
        for spec in specs:
            expressions.append(spec.regex.encode("utf-8"))
            flags.append(_FLAGS | (hyperscan.HS_FLAG_CASELESS if spec.caseless else 0))
        for word, deltas in _keyword_table(catalog).items():
            merged: dict[str, float] = {}
            for name, delta in deltas:
                merged[name] = max(merged.get(name, delta), delta)
            self._keywords.append(merged)
            expressions.append(_keyword_regex(word).encode("utf-8"))
            flags.append(_FLAGS | hyperscan.HS_FLAG_CASELESS)
        self._first_keyword = len(specs)
        self._db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        try:
            self._db.compile(expressions=expressions, ids=list(range(len(expressions))),
                             elements=len(expressions), flags=flags)
        except hyperscan.error as exc:
            raise CatalogError(f"{catalog.source}: {_blame(exc, specs)}") from exc
        self._local = threading.local()

    def _scratch(self) -> hyperscan.Scratch:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = hyperscan.Scratch(self._db)
            self._local.scratch = scratch
        return scratch

    def scan(self, text: str, segments: Sequence[int] = ()) -> list[Candidate]:
        """Checked, context-scored candidates in `text`.

        `segments` are the start offsets of independent fields joined into `text` (JSON
        values, CSV cells); context keywords never reach across a segment start.
        """
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates; a same-length stand-in keeps offsets
            text = _SURROGATE.sub("\ufffd", text)
            data = text.encode("utf-8")
        raw: list[tuple[int, int, int]] = []
        # the stub types the context as object; `_collect` is only ever given `raw`
        self._db.scan(data, match_event_handler=_collect,  # type: ignore[arg-type]
                      context=raw, scratch=self._scratch())
        if not raw:
            return []
        first_kw = self._first_keyword
        longest: dict[tuple[int, int], int] = {}
        keywords: list[tuple[int, int]] = []  # (byte end, keyword index)
        for ident, start, end in raw:
            if ident >= first_kw:
                keywords.append((end, ident - first_kw))
            elif longest.get(key := (ident, start), -1) < end:
                longest[key] = end
        if not longest:
            return []
        hot = self._hot
        keywords.sort()
        keyword_ends = list(map(_FIRST, keywords))
        keyword_deltas = list(map(self._keywords.__getitem__, map(_SECOND, keywords)))
        # Keyword ends stay in bytes: only the few near a candidate are ever measured in
        # code points, where the byte distance alone cannot decide.
        to_char = None if len(data) == len(text) else _offset_map(data, longest)
        catalog = self.catalog
        window = catalog.window
        reach = 4 * window  # bytes: a code point is at most 4
        min_score = catalog.min_score
        out: list[Candidate] = []
        append = out.append
        allow = catalog.allow_list
        allow_patterns = catalog.allow_patterns
        for (ident, bstart), bend in longest.items():
            kind, base, check, extend, fail_closed = hot[ident]
            if to_char is None:
                anchor = start = bstart
                end = bend
            else:
                anchor = start = to_char[bstart]
                end = to_char[bend]
            if extend is not None:
                span = extend(text, start, end)
                if span is None:
                    continue
                start, end = span
            score = base if check is None else check(text, start, end)
            if score is None or end <= start:
                continue
            value = text[start:end]
            if value in allow or (allow_patterns and any(p.fullmatch(value)
                                                         for p in allow_patterns)):
                continue
            if keyword_ends:
                if start == anchor or to_char is None:
                    at = bstart + start - anchor
                elif start > anchor:
                    at = bstart + len(text[anchor:start].encode("utf-8"))
                else:
                    at = bstart - len(text[start:anchor].encode("utf-8"))
                first = bisect.bisect_left(keyword_ends, at - reach)
                if first < len(keyword_ends) and keyword_ends[first] <= at:
                    delta, labelled = _context(kind, keyword_ends, keyword_deltas, data, at,
                                               first, start, window, segments)
                    if delta < 0 and not labelled and fail_closed and score >= base \
                            and score >= min_score:
                        # Fail closed: "order 42 shipped to <ID>" does not make a
                        # verified identifier (PatternSpec.fail_closed) an order number;
                        # only an exclusion word that labels it does.
                        score = max(score + delta, min_score)
                    else:
                        score += delta
            if score > 1.0:
                score = 1.0
            append(Candidate(kind, start, end, score, value))
        return out


def _collect(ident: int, start: int, end: int, flags: int,
             raw: list[tuple[int, int, int]]) -> None:
    """Hyperscan's match handler; `raw` is the list `scan` passed as the context (one
    module-level function, where a closure per scan cost more in both builds)."""
    raw.append((ident, start, end))


def _context(kind: str, ends: list[int], deltas: list[dict[str, float]], data: bytes,
             at: int, first: int, start: int, window: int,
             segments: Sequence[int]) -> tuple[float, bool]:
    """Boost and penalty from keywords ending within `window` code points before `start`
    (byte `at`), and not before the start of its segment; and whether an exclusion word
    labels the value (only separators or a word such as 号/no. between them). A label is
    nearer the value than any keyword can be, so it outweighs them: with one, only the
    penalty counts (`电话… 运单号13812345678` is a waybill number).

    `first` is the first keyword that ends at most 4 * `window` bytes before `at`; the
    caller has checked that it ends at or before `at`.
    """
    floor = start - window
    if segments:
        seg = bisect.bisect_right(segments, start) - 1
        if seg >= 0 and segments[seg] > floor:
            floor = segments[seg]
    boost = penalty = 0.0
    labelled = False
    for index in range(first, bisect.bisect_right(ends, at, first)):
        delta = deltas[index].get(kind)
        if delta is not None:
            gap = at - ends[index]  # bytes; code points only when it could matter
            distance = gap if gap <= window and not segments else len(
                data[ends[index]:at].decode("utf-8", "replace"))
            if start - distance >= floor:
                if delta > 0:
                    if delta > boost:
                        boost = delta
                else:
                    if delta < penalty:
                        penalty = delta
                    if not labelled and gap <= _LABEL_GAP_MAX:
                        labelled = _LABEL_GAP.fullmatch(
                            data[ends[index]:at].decode("utf-8", "replace")) is not None
    return (penalty if labelled else boost + penalty), labelled


def _offset_map(data: bytes, spans: dict[tuple[int, int], int]) -> dict[int, int]:
    """Byte offsets of the matches (at code-point boundaries) -> code-point offsets.

    Each gap between consecutive offsets is decoded on its own and measured (a slice and a
    decode a gap). Counting UTF-8 lead bytes in a translated copy cost the same once
    compiled (callgrind, within 0.3 %) and needed a table; a byte loop cost 11 % more.
    """
    out: dict[int, int] = {}
    chars = previous = 0
    for bound in sorted({*spans.values(), *map(_SECOND, spans)}):
        chars += len(data[previous:bound].decode())
        out[bound] = chars
        previous = bound
    return out


def _keyword_table(catalog: Catalog) -> dict[str, list[tuple[str, float]]]:
    table: dict[str, list[tuple[str, float]]] = {}
    for name, spec in catalog.detectors.items():
        if not spec.enabled:
            continue
        for word in spec.keywords:
            table.setdefault(word.lower(), []).append((name, spec.boost))
        for word in spec.exclude:
            table.setdefault(word.lower(), []).append((name, -spec.penalty))
    return table


def _keyword_regex(word: str) -> str:
    body = "".join("\\" + c if not c.isalnum() and c.isascii() else c for c in word)
    if word.isascii():
        return r"\b" + body + r"\b"
    return body


def _blame(exc: Exception, specs: list[PatternSpec]) -> str:
    """Find the expression Hyperscan refused by compiling each one alone."""
    for spec in specs:
        single = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        flags = _FLAGS | (hyperscan.HS_FLAG_CASELESS if spec.caseless else 0)
        try:
            single.compile(expressions=[spec.regex.encode("utf-8")], flags=[flags])
        except hyperscan.error as single_exc:
            return f"detectors.{spec.type}.pattern: cannot compile {spec.regex!r}: {single_exc}"
    return f"cannot compile the detector patterns: {exc}"
