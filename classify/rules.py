"""From checked candidates to a result: thresholds, overlaps, and level escalation.

A record takes the highest level of its findings (就高从严). Combination rules raise a
record and the findings that took part (name + identifier, identifier + health). A resident
ID of a child adds PI.MINOR. Many distinct people in one document raise the document.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from classify import validators
from classify.catalog import Catalog
from classify.levels import highest, rank
from classify.masking import MASKS
from classify.model import Finding, ScanResult
from classify.scanner import Candidate

ROOT = "$"
_SEPARATORS = re.compile(r"[\s\-+()·]")


@dataclass(slots=True)
class Hit:
    """A candidate that passed its threshold, placed in a record; its level may still rise."""

    type: str
    category: str
    level: str
    start: int
    end: int
    score: float
    value: str
    path: str | None = None
    record: str = ROOT


def select(candidates: Iterable[Candidate], min_score: float) -> list[Candidate]:
    """Candidates at or above `min_score`; where spans overlap the higher score wins."""
    ranked = sorted((c for c in candidates if c.score >= min_score),
                    key=lambda c: (-c.score, c.start - c.end, c.start))
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
    kept.sort(key=lambda c: c.start)
    return kept


def to_hits(candidates: Sequence[Candidate], catalog: Catalog, *, offset: int = 0,
            path: str | None = None, record: str = ROOT) -> list[Hit]:
    """Attach category and base level from the catalog."""
    out = []
    for cand in candidates:
        spec = catalog.detectors[cand.type]
        out.append(Hit(cand.type, spec.category, spec.level, cand.start + offset,
                       cand.end + offset, cand.score, cand.value, path, record))
    return out


def finish(hits: list[Hit], catalog: Catalog, today: _dt.date,
           columns: dict[str, str] | None = None) -> ScanResult:
    """Apply the escalation rules and build the result."""
    by_record: dict[str, list[Hit]] = {}
    for hit in hits:
        by_record.setdefault(hit.record, []).append(hit)
    root = by_record.get(ROOT, [])
    for record, members in by_record.items():
        group = members if record == ROOT else members + root
        _combine(group, catalog)
    levels = [catalog.default_level, *(h.level for h in hits)]
    categories = {h.category for h in hits}
    if any(_is_minor(h, catalog, today) for h in hits):
        categories.add("PI.MINOR")
        levels.append(catalog.minor_level)
    volume = _volume_level(hits, catalog)
    if volume is not None:
        levels.append(volume)
    order = {name: index for index, name in enumerate(catalog.categories)}
    findings = [Finding(h.type, h.category, h.level, h.start, h.end, h.path, h.score,
                        MASKS[catalog.detectors[h.type].mask](h.value), h.value)
                for h in hits]
    return ScanResult(level=highest(*levels),
                      categories=sorted(categories, key=lambda c: (order.get(c, len(order)), c)),
                      findings=findings, columns=dict(columns or {}))


def _combine(group: list[Hit], catalog: Catalog) -> None:
    for rule in catalog.combinations:
        parts = [[h for h in group if h.type in members or h.category in members]
                 for members in rule.groups]
        if all(parts):
            for part in parts:
                for hit in part:
                    if rank(hit.level) < rank(rule.level):
                        hit.level = rule.level


def _is_minor(hit: Hit, catalog: Catalog, today: _dt.date) -> bool:
    if hit.type != "cn_resident_id":
        return False
    born = validators.ric_birth_date(hit.value)
    if born is None:
        return False
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return years < catalog.minor_age


def _volume_level(hits: list[Hit], catalog: Catalog) -> str | None:
    if not catalog.volume:
        return None
    seen: dict[str, set[str]] = {}
    for hit in hits:
        if hit.type in catalog.subject_types:
            seen.setdefault(hit.type, set()).add(_normal(hit.value))
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
