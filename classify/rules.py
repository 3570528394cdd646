"""From checked candidates to a result: thresholds, overlaps, and level escalation.

A record takes the highest level of its findings (就高从严). Combination rules raise a
record and the findings that took part (name + identifier, identifier + health). A resident
ID of a child adds PI.MINOR. Many distinct people in one document raise the document.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import operator
import re
from collections.abc import Iterable, Sequence

from classify import validators
from classify.catalog import Catalog
from classify.levels import LEVELS, rank
from classify.masking import MASKS
from classify.model import Finding, ScanResult
from classify.scanner import Candidate

ROOT = "$"
_START = operator.attrgetter("start")
_RANK = {level: index for index, level in enumerate(LEVELS)}
_SEPARATORS = re.compile(r"[\s\-+()·]")


def select(candidates: Iterable[Candidate], min_score: float) -> list[Candidate]:
    """Candidates at or above `min_score`; where spans overlap the higher score wins.

    Spans are ranked (score, then length, then position) and taken greedily, each unless
    it overlaps one already taken. Only spans in one run of overlapping spans can exclude
    each other, so each run is settled on its own and the usual lone span costs nothing.
    """
    passed = [c for c in candidates if c.score >= min_score]
    passed.sort(key=_START)
    kept: list[Candidate] = []
    run: list[Candidate] = []
    reach = -1
    for cand in passed:
        if cand.start >= reach:  # starts a new run: settle the previous one
            if len(run) == 1:
                kept.append(run[0])
            elif run:
                kept.extend(_settle(run))
            run = [cand]
            reach = cand.end
        else:
            run.append(cand)
            if cand.end > reach:
                reach = cand.end
    if len(run) == 1:
        kept.append(run[0])
    elif run:
        kept.extend(_settle(run))
    return kept


def _settle(run: list[Candidate]) -> list[Candidate]:
    ranked = sorted(run, key=lambda c: (-c.score, c.start - c.end, c.start))
    kept: list[Candidate] = []
    starts: list[int] = []  # accepted spans never overlap, so neighbours decide
    ends: list[int] = []
    for cand in ranked:
        at = bisect.bisect_left(starts, cand.start)
        if at < len(starts) and starts[at] < cand.end:
            continue
        if at > 0 and ends[at - 1] > cand.start:
            continue
        starts.insert(at, cand.start)
        ends.insert(at, cand.end)
        kept.append(cand)
    kept.sort(key=_START)
    return kept


class Grader:
    """The escalation rules of one catalog, prepared once (type sets, orders, masks).

    Grading runs once per scanned document, so everything that depends only on the
    catalog is worked out here rather than on each call.
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        detectors = catalog.detectors
        # A group names types or categories; a finding's category comes from its type, so
        # each group becomes the set of types it covers.
        rules = []
        for rule in catalog.combinations:
            groups = tuple(frozenset(name for name, spec in detectors.items()
                                     if name in members or spec.category in members)
                           for members in rule.groups)
            rules.append((rank(rule.level), groups, frozenset().union(*groups)))
        self._rules = tuple(rules)
        self._order = {name: index for index, name in enumerate(catalog.categories)}
        self._types = {name: (spec.category, rank(spec.level), MASKS[spec.mask])
                       for name, spec in detectors.items()}
        self._default_rank = rank(catalog.default_level)
        self._volume_floor = min((count for count, _ in catalog.volume), default=0)

    def finish(self, found: list[Candidate], today: _dt.date,
               columns: dict[str, str] | None = None) -> ScanResult:
        """Apply the escalation rules to the selected candidates and build the result."""
        catalog = self.catalog
        types = self._types
        rows = [types[cand.type] for cand in found]  # (category, rank, mask)
        levels = [row[1] for row in rows]
        if self._rules and found:
            if all(cand.record == ROOT for cand in found):
                self._combine(found, levels, range(len(found)))  # free text: one record
            else:
                by_record: dict[str, list[int]] = {}
                for index, cand in enumerate(found):
                    by_record.setdefault(cand.record, []).append(index)
                root = by_record.get(ROOT, [])
                for record, members in by_record.items():
                    self._combine(found, levels, members if record == ROOT else members + root)
        best = self._default_rank
        for level in levels:
            if level > best:
                best = level
        categories = {row[0] for row in rows}
        if any(_is_minor(cand.value, catalog, today) for cand in found
               if cand.type == "cn_resident_id"):
            categories.add("PI.MINOR")
            best = max(best, rank(catalog.minor_level))
        if catalog.volume and len(found) >= self._volume_floor:
            volume = _volume_level(found, catalog)
            if volume is not None:
                best = max(best, rank(volume))
        findings = [Finding(cand.type, row[0], LEVELS[level], cand.start, cand.end, cand.path,
                            cand.score, row[2], cand.value)
                    for cand, row, level in zip(found, rows, levels, strict=True)]
        if len(categories) > 1:
            order = self._order
            listed = sorted(categories, key=lambda c: (order.get(c, len(order)), c))
        else:
            listed = list(categories)
        return ScanResult(LEVELS[best], listed, findings, dict(columns) if columns else {})

    def _combine(self, found: list[Candidate], levels: list[int],
                 group: Sequence[int]) -> None:
        """Findings of every group of a rule in one record raise all that took part."""
        present = {found[index].type for index in group}
        disjoint = present.isdisjoint
        for level, groups, taking_part in self._rules:
            if not any(map(disjoint, groups)):
                for index in group:
                    if levels[index] < level and found[index].type in taking_part:
                        levels[index] = level


def finish(found: list[Candidate], catalog: Catalog, today: _dt.date,
           columns: dict[str, str] | None = None) -> ScanResult:
    """Apply the escalation rules and build the result (prepare a `Grader` to repeat it)."""
    return Grader(catalog).finish(found, today, columns)


def _is_minor(value: str, catalog: Catalog, today: _dt.date) -> bool:
    year = value[6:10]
    if year.isascii() and year.isdigit() and today.year - int(year) - 1 >= catalog.minor_age:
        return False  # old enough whatever the birthday: no date to build
    born = validators.ric_birth_date(value)
    if born is None:
        return False
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return years < catalog.minor_age


def _volume_level(found: list[Candidate], catalog: Catalog) -> str | None:
    seen: dict[str, set[str]] = {}
    for cand in found:
        if cand.type in catalog.subject_types:
            seen.setdefault(cand.type, set()).add(_normal(cand.value))
    subjects = max((len(v) for v in seen.values()), default=0)
    level = None
    for count, threshold_level in catalog.volume:
        if subjects >= count:
            level = threshold_level
    return level


def _normal(value: str) -> str:
    if value.isalnum():
        return value.lower()
    return _SEPARATORS.sub("", value.lower())
