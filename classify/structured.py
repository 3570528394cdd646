"""JSON and CSV: values with their paths, and decisions per column.

A column is a CSV column, or the values at one JSON path across the records of an array
(`$.records[*].phone`). A column is tagged with a type when a configurable share of its
values match it (a lower share when its header or key names the type). Strong detections
(checksummed identifiers, e-mail) stand in any cell; weak ones (a bare 15-digit IMEI, a
two-character name) need a tagged column, so one odd cell cannot mislabel a column and a
harmless header cannot hide real data.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Callable, Iterator, Mapping
from typing import NamedTuple

from classify import extenders, validators
from classify.catalog import Catalog
from classify.errors import InputError
from classify.scanner import Candidate

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INDEX = re.compile(r"\[\d+\]")
_TOKEN = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+|[^\x00-\x7f]+")
WHOLE_VALUE_MAX = 8  # longer values without a hinting key cannot be a bare name
_WEAK_SCORE = 0.45  # whole-value shapes (names, addresses): reported only in a tagged column
_COORD_HINTS = frozenset({"lat", "latitude", "lng", "lon", "longitude", "纬度", "经度"})


class Cell(NamedTuple):
    """One scalar value with where it came from (a tuple: documents have many)."""

    path: str
    column: str
    header: str
    record: str
    value: str
    row: int = -1
    col: int = -1


def json_cells(obj: object) -> list[Cell]:
    """Every string and number in a parsed JSON value, in document order, with JSONPath."""
    out: list[Cell] = []
    append = out.append
    # Depth first with an explicit stack (no recursion limit on deep documents); each frame
    # is an iterator over one container's children, and leaves never go on the stack.
    frames: list[tuple[Iterator[tuple[object, object]], bool, str, str, str, str]] = []
    if not _push(frames, obj, "$", "$", "$", ""):
        _leaf(append, obj, "$", "$", "$", "")
    while frames:
        children, keyed, path, column, record, header = frames[-1]
        for key, child in children:
            if keyed:
                name = str(key)
                step = key_step(name)
                sub, sub_column, sub_record, sub_header = (path + step, column + step, record,
                                                           name)
            else:
                sub = f"{path}[{key}]"
                sub_column, sub_record, sub_header = (column + "[*]",
                                                      sub if record == "$" else record, header)
            if isinstance(child, str):
                append(_cell((sub, sub_column, sub_header, sub_record, child, -1, -1)))
            elif _push(frames, child, sub, sub_column, sub_record, sub_header):
                break  # descend; this frame's iterator resumes after the child
            else:
                _leaf(append, child, sub, sub_column, sub_record, sub_header)
        else:
            frames.pop()
    return out


def _cell(fields: tuple[str, str, str, str, str, int, int]) -> Cell:
    return tuple.__new__(Cell, fields)  # NamedTuple.__new__ without its Python-level wrapper


def _push(frames: list[tuple[Iterator[tuple[object, object]], bool, str, str, str, str]],
          node: object, path: str, column: str, record: str, header: str) -> bool:
    """Put a container's children on the stack; False for a scalar."""
    if isinstance(node, dict) or (not isinstance(node, str | list | tuple | int | float)
                                  and isinstance(node, Mapping)):
        frames.append((iter(node.items()), True, path, column, record, header))
        return True
    if isinstance(node, list | tuple):
        frames.append((enumerate(node), False, path, column, record, header))
        return True
    return False


def _leaf(append: Callable[[Cell], None], node: object, path: str, column: str, record: str,
          header: str) -> None:
    if isinstance(node, str):
        append(_cell((path, column, header, record, node, -1, -1)))
    elif isinstance(node, int | float) and not isinstance(node, bool):
        append(_cell((path, column, header, record, str(node), -1, -1)))


@functools.lru_cache(maxsize=4096)
def key_step(name: str) -> str:
    """The JSONPath step for an object key: `.name`, or `['odd key']` when quoting is needed."""
    if _IDENT.fullmatch(name):
        return f".{name}"
    return "['" + name.replace("\\", "\\\\").replace("'", "\\'") + "']"


def sniff_delimiter(text: str, delimiter: str | None) -> str:
    """`delimiter`, or the most frequent of , tab ; | on the first line."""
    if delimiter is not None:
        if len(delimiter) != 1:
            raise InputError(f"CSV delimiter must be one character, got {delimiter!r}")
        return delimiter
    first = text[:4096].split("\n", 1)[0]
    return max(",\t;|", key=first.count) if first else ","


def csv_rows(text: str, delimiter: str | None) -> Iterator[list[str]]:
    """Rows of a CSV document; the delimiter is sniffed among , tab ; | when not given."""
    delimiter = sniff_delimiter(text, delimiter)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        yield from reader
    except csv.Error as exc:
        raise InputError(f"CSV line {reader.line_num}: {exc}") from exc


def csv_cells(text: str, delimiter: str | None = None, header: bool = True) -> list[Cell]:
    """Cells of a CSV document with `$[row].header` paths (`$[row][col]` without a header)."""
    rows = csv_rows(text, delimiter)
    names: list[str] = []
    if header:
        names = next(rows, [])
    out: list[Cell] = []
    for row_index, row in enumerate(rows):
        record = f"$[{row_index}]"
        for col, value in enumerate(row):
            if not value.strip():
                continue
            name = names[col] if col < len(names) and names[col].strip() else ""
            step = key_step(name) if name else f"[{col}]"
            out.append(Cell(record + step, name or f"[{col}]", name, record, value, row_index,
                            col))
    return out


def header_hints(header: str, catalog: Catalog) -> frozenset[str]:
    """Types whose keywords name this header or key (tokens: id_card, phoneNumber, 手机号)."""
    if not header:
        return frozenset()
    lowered = header.lower()
    tokens = {t.lower() for t in _TOKEN.findall(header)}
    tokens.add(lowered)
    tokens.add(re.sub(r"[\s_\-.]", "", lowered))
    out = set()
    for name, spec in catalog.detectors.items():
        for word in spec.keywords:
            word_l = word.lower()
            if word_l in tokens or (not word.isascii() and word_l in lowered):
                out.add(name)
                break
    return frozenset(out)


def whole_value(cell: Cell, hints: frozenset[str]) -> list[Candidate]:
    """Weak whole-value candidates: a name, an address, a diagnosis, one coordinate."""
    value = cell.value.strip()
    offset = cell.value.find(value) if value else 0
    out: list[Candidate] = []

    def add(kind: str) -> None:
        out.append(Candidate(kind, offset, offset + len(value), _WEAK_SCORE, value))

    if extenders.name_value(value):
        add("person_name")
    elif "address" in hints and extenders.address_span(value, 0) is not None:
        add("address")
    elif ("medical" in hints and value.lower() not in extenders.MEDICAL_NEGATIVE
          and not value.replace(".", "").isdigit() and len(value) <= 64):
        add("medical")
    if "gps_coordinate" in hints and cell.header.lower() in _COORD_HINTS:
        try:
            number = float(value)
        except ValueError:
            number = 1000.0
        limit = 90 if cell.header.lower() in ("lat", "latitude", "纬度") else 180
        if abs(number) <= limit and len(value.partition(".")[2]) >= 4:
            add("gps_coordinate")
    if "imei" in hints and validators.imei(value):
        add("imei")
    return out


def decide_columns(cells: list[Cell], found: list[list[Candidate]],
                   hints: Mapping[str, frozenset[str]], catalog: Catalog) -> dict[str, str]:
    """Tag each column with the type most of its values match (see module docstring).

    When two types match equally many values (an 18-digit ID that is also card-shaped), the
    one whose best candidate scored higher wins, then the first by name: never the order
    in which a set happened to list them.
    """
    totals: dict[str, int] = {}
    counts: dict[str, dict[str, list[float]]] = {}  # column -> type -> [values, top score]
    for cell, cands in zip(cells, found, strict=True):
        column = cell.column
        totals[column] = totals.get(column, 0) + 1
        if not cands:
            continue
        per = counts.get(column)
        if per is None:
            per = counts[column] = {}
        if len(cands) == 1:
            scores = {cands[0].type: cands[0].score} if cands[0].score > 0 else {}
        else:
            scores = {}
            for cand in cands:
                if cand.score > 0 and cand.score > scores.get(cand.type, 0.0):
                    scores[cand.type] = cand.score
        for kind, score in scores.items():
            entry = per.get(kind)
            if entry is None:
                per[kind] = [1, score]
            else:
                entry[0] += 1
                if score > entry[1]:
                    entry[1] = score
    tags: dict[str, str] = {}
    for column in totals:  # in order of first appearance
        per = counts.get(column)
        if not per:
            continue
        total = totals[column]
        column_hints = hints.get(column, frozenset())
        best: tuple[float, float, str] | None = None
        for kind in sorted(per):
            count, top = per[kind]
            share = count / total
            hinted = kind in column_hints
            if not hinted and total < catalog.min_values:
                continue  # a lone value is not a column: it needs its header to vouch
            need = catalog.header_share if hinted else catalog.column_share
            if share >= need and (best is None or (share, top) > best[:2]):
                best = (share, top, kind)
        if best is not None:
            tags[column] = best[2]
    return tags
