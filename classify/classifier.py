"""The library API: `Classifier` scans text, JSON and CSV, and masks above a level."""

from __future__ import annotations

import bisect
import csv
import datetime as _dt
import io
import operator
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from itertools import accumulate
from pathlib import Path

from classify import structured
from classify.catalog import Catalog, load_catalog
from classify.errors import MaskingError
from classify.levels import is_level, rank
from classify.masking import Masker
from classify.model import Finding, ScanResult
from classify.rules import Grader, select
from classify.scanner import Candidate, Scanner

_DEFAULT: Classifier | None = None
_DEFAULT_LOCK = threading.Lock()
_HINT_CACHE_MAX = 4096
_STEP = re.compile(r"[.\[]")  # where a JSONPath step begins
_BY_START = operator.attrgetter("start")
_MAX_DEPTH = 1000  # containers deep in mask_json; json.loads stops near here too


class Classifier:
    """Finds sensitive values and grades documents with one catalog.

    Building one compiles the catalog's patterns (tens of milliseconds); build it once and
    share it: every method is safe to call from several threads.
    """

    def __init__(self, catalog: Catalog, *,
                 today: Callable[[], _dt.date] = _dt.date.today) -> None:
        self.catalog = catalog
        if today == _dt.date.today:  # a bound method: equal, never the same object
            today = _cached_today()
        self._today = today
        self._scanner = Scanner(catalog, today)
        self._grader = Grader(catalog)
        self._hints: dict[str, frozenset[str]] = {}

    @classmethod
    def default(cls) -> Classifier:
        """The shared classifier for the shipped catalog."""
        global _DEFAULT
        with _DEFAULT_LOCK:
            if _DEFAULT is None:
                _DEFAULT = cls(load_catalog())
            return _DEFAULT

    @classmethod
    def from_catalog(cls, path: str | Path) -> Classifier:
        """A classifier for a user catalog merged over the shipped one."""
        return cls(load_catalog(path))

    # -- scanning ------------------------------------------------------------------------

    def scan_text(self, text: str) -> ScanResult:
        """Grade free text; finding offsets index into `text`."""
        return self.scan_chunks([text])

    def scan_chunks(self, chunks: Iterable[str]) -> ScanResult:
        """Grade a text delivered in pieces (split at line ends) as one document.

        Offsets are into the concatenated text. Only the findings are kept in memory.
        """
        found: list[Candidate] = []
        offset = 0
        for chunk in chunks:
            kept = select(self._scanner.scan(chunk), self.catalog.min_score)
            if offset:
                for cand in kept:
                    cand.start += offset
                    cand.end += offset
            found.extend(kept)
            offset += len(chunk)
        return self._grader.finish(found, self._today())

    def scan_json(self, obj: object) -> ScanResult:
        """Grade a parsed JSON value; findings carry the JSONPath of their string."""
        return self._scan_cells(structured.json_cells(obj))

    def scan_csv(self, text: str, *, delimiter: str | None = None,
                 header: bool = True) -> ScanResult:
        """Grade a CSV document column by column; paths are `$[row].header`."""
        return self._scan_cells(structured.csv_cells(text, delimiter, header))

    def _scan_cells(self, cells: list[structured.Cell]) -> ScanResult:
        catalog = self.catalog
        values = [cell.value for cell in cells]
        # Values are joined with NUL and scanned in one call; starts[i] is where value i
        # begins in the joined text (each value plus one separator before the next).
        starts = list(map(operator.add, accumulate(map(len, values), initial=0),
                          range(len(values))))
        found: list[list[Candidate]] = [[] for _ in cells]
        if cells:
            for cand in self._scanner.scan("\x00".join(values), starts):
                index = bisect.bisect_right(starts, cand.start) - 1
                base = starts[index]
                cand.start -= base
                cand.end -= base
                found[index].append(cand)
        hints: dict[str, frozenset[str]] = {}
        short = structured.WHOLE_VALUE_MAX
        for index, cell in enumerate(cells):
            column_hints = hints.get(cell.column)
            if column_hints is None:
                column_hints = hints[cell.column] = self._header_hints(cell.header)
            # Without a hinting key only a short CJK value can be a whole-value finding (a name).
            if column_hints or (len(cell.value) <= short and not cell.value.isascii()):
                found[index].extend(structured.whole_value(cell, column_hints))
        tags = structured.decide_columns(cells, found, hints, catalog)
        kept: list[Candidate] = []
        min_score = catalog.min_score
        for cell, cands in zip(cells, found, strict=True):
            if not cands:
                continue
            tag = tags.get(cell.column)
            if tag is not None:
                boost = catalog.detectors[tag].boost
                for cand in cands:
                    if cand.type == tag:
                        cand.score = min(1.0, cand.score + boost)
            if len(cands) == 1:
                kept_here = cands if cands[0].score >= min_score else []
            else:
                kept_here = select(cands, min_score)
            for cand in kept_here:
                cand.path = cell.path
                cand.record = cell.record
                kept.append(cand)
        return self._grader.finish(kept, self._today(), tags)

    def _header_hints(self, header: str) -> frozenset[str]:
        cached = self._hints.get(header)
        if cached is None:
            cached = structured.header_hints(header, self.catalog)
            if len(self._hints) >= _HINT_CACHE_MAX:
                self._hints.clear()
            self._hints[header] = cached
        return cached

    # -- masking -------------------------------------------------------------------------

    def mask_text(self, text: str, above: str = "L3", *, mode: str = "mask",
                  key: bytes | None = None) -> tuple[str, ScanResult]:
        """`text` with every finding whose level is above `above` replaced."""
        masker, floor = self._masker(above, mode, key)
        result = self.scan_text(text)
        return _apply(text, result.findings, masker, floor, self.catalog), result

    def mask_json(self, obj: object, above: str = "L3", *, mode: str = "mask",
                  key: bytes | None = None) -> tuple[object, ScanResult]:
        """`obj` with the values of findings above `above` masked, structure kept.

        The input is never modified: the containers on the way to a masked value are new,
        unchanged subtrees are shared with the input (so the call stays cheap on the
        gateway's request path). A masked number becomes a string.
        """
        masker, floor = self._masker(above, mode, key)
        result = self.scan_json(obj)
        by_path: dict[str, list[Finding]] = {}
        for finding in result.findings:
            if finding.path is not None and rank(finding.level) > floor:
                by_path.setdefault(finding.path, []).append(finding)
        if not by_path:
            return obj, result
        return _rebuild(obj, "$", by_path, _prefixes(by_path), masker, self.catalog), result

    def mask_csv(self, text: str, above: str = "L3", *, mode: str = "mask",
                 key: bytes | None = None, delimiter: str | None = None,
                 header: bool = True) -> tuple[str, ScanResult]:
        """The CSV document rewritten with the cells of findings above `above` masked."""
        masker, floor = self._masker(above, mode, key)
        cells = structured.csv_cells(text, delimiter, header)
        result = self._scan_cells(cells)
        by_path: dict[str, list[Finding]] = {}
        for finding in result.findings:
            if finding.path is not None and rank(finding.level) > floor:
                by_path.setdefault(finding.path, []).append(finding)
        rows = list(structured.csv_rows(text, delimiter))
        first = 1 if header else 0
        for cell in cells:
            found = by_path.get(cell.path)
            if found:
                rows[cell.row + first][cell.col] = _apply(cell.value, found, masker, -1,
                                                          self.catalog)
        out = io.StringIO(newline="")
        csv.writer(out, delimiter=structured.sniff_delimiter(text, delimiter),
                   lineterminator="\n").writerows(rows)
        return out.getvalue(), result

    def _masker(self, above: str, mode: str, key: bytes | None) -> tuple[Masker, int]:
        if not is_level(above):
            raise MaskingError(f"above: must be one of L1..L6, got {above!r}")
        return Masker(mode, key), rank(above)


def _cached_today() -> Callable[[], _dt.date]:
    """`date.today`, converting to local time only when the clock passes local midnight.

    The scanner asks for the date once per resident-ID candidate, and `date.today()` (a
    local-time conversion) cost more than checking the number itself.
    """
    # [(the next local midnight as a timestamp, today)]: one tuple, swapped whole, so a
    # thread never reads one day's date with another day's deadline
    cell = [(-1.0, _dt.date.min)]

    def today() -> _dt.date:
        until, day = cell[0]
        now = time.time()
        if not until - 90000.0 < now < until:  # a new day, or the clock was set back
            day = _dt.date.fromtimestamp(now)
            midnight = _dt.datetime.combine(day + _dt.timedelta(days=1), _dt.time())
            cell[0] = (midnight.timestamp(), day)
        return day

    return today


def _apply(text: str, findings: Iterable[Finding], masker: Masker, floor: int,
           catalog: Catalog) -> str:
    parts: list[str] = []
    cursor = 0
    partial = masker.mode == "mask"  # then each finding already carries its replacement
    for finding in sorted(findings, key=_BY_START):
        if rank(finding.level) <= floor or finding.start < cursor:
            continue
        parts.append(text[cursor:finding.start])
        parts.append(finding.masked if partial else masker.replace(
            finding.type, catalog.detectors[finding.type].mask, finding.value))
        cursor = finding.end
    parts.append(text[cursor:])
    return "".join(parts)


def _rebuild(node: object, path: str, by_path: Mapping[str, list[Finding]],
             on_path: frozenset[str], masker: Masker, catalog: Catalog,
             depth: int = 0) -> object:
    """A copy of the containers leading to masked values; other subtrees are shared.

    Recursive, so bounded by hand: compiled code has no recursion limit of its own and
    would overflow the C stack on a value nested 100,000 deep (a crash, not an error).
    Past the interpreter's limit it raises RecursionError, as the pure build does.
    """
    if path not in on_path:
        return node
    if depth > _MAX_DEPTH:
        raise RecursionError(f"mask_json: the value is nested deeper than {_MAX_DEPTH}")
    # Children off the masked paths (most of them) are shared without a call.
    if isinstance(node, Mapping):
        out: dict[object, object] = {}
        for key, child in node.items():
            sub = path + structured.key_step(str(key))
            out[key] = child if sub not in on_path else _rebuild(child, sub, by_path, on_path,
                                                                  masker, catalog, depth + 1)
        return out
    if isinstance(node, list | tuple):
        items: list[object] = []
        for index, child in enumerate(node):
            sub = f"{path}[{index}]"
            items.append(child if sub not in on_path else _rebuild(
                child, sub, by_path, on_path, masker, catalog, depth + 1))
        return items
    findings = by_path.get(path)
    if findings is None or isinstance(node, bool) or not isinstance(node, str | int | float):
        return node
    return _apply(node if isinstance(node, str) else str(node), findings, masker, -1, catalog)


def _prefixes(paths: Iterable[str]) -> frozenset[str]:
    """Every path and each of its ancestors (`$.a[0].b` -> `$`, `$.a`, `$.a[0]`, …)."""
    out: set[str] = set()
    for path in paths:
        out.add(path)
        out.update(path[:match.start()] for match in _STEP.finditer(path, 1))
    return frozenset(out)
