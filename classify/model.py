"""Findings and scan results (DESIGN.md contract 4)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import FrozenInstanceError, dataclass, field
from typing import Any

_FIELDS = ("type", "category", "level", "start", "end", "path", "score", "masked", "value")
# `masked` is a property over `_masked` (see Finding.masked)
_SLOTS = tuple("_masked" if name == "masked" else name for name in _FIELDS)
_new_object = object.__new__
Mask = Callable[[str], str]


class _FindingSlots:
    """The storage of a `Finding`; `_Draft` and `Finding` share it, with or without stores."""

    __slots__ = _SLOTS

    type: str
    category: str
    level: str
    start: int
    end: int
    path: str | None
    score: float
    _masked: str | Mask  # the masked form, or the mask that makes it when it is read
    value: str


class _Draft(_FindingSlots):
    """A `Finding` under construction: the same slots, with ordinary stores."""

    __slots__ = ()


class Finding(_FindingSlots):
    """One sensitive value: its type, category, level, span and masked form.

    `start`/`end` are code-point offsets (end exclusive) into the scanned text, or into the
    string value at `path` for JSON and CSV. `value` is the raw text; it is kept out of
    `repr`, `==`, `hash` and `to_json` so a logged finding never leaks what it found.

    Immutable like a frozen dataclass (assigning a field raises `FrozenInstanceError`), but
    built with plain slot stores on a `_Draft` that then becomes a `Finding`: a scan builds
    one per finding, and a frozen dataclass's `object.__setattr__` per field cost about
    five times as much. For the same reason `masked` may be given as the mask function: the
    masked form is then made when it is read, and a caller who only wants the level (a
    gateway deciding, a bulk scan) never pays for it.
    """

    __slots__ = ()
    __match_args__ = ("type", "category", "level", "start", "end", "path", "score", "masked",
                      "value")

    def __new__(cls, type: str, category: str, level: str, start: int, end: int,
                path: str | None, score: float, masked: str | Mask, value: str) -> Finding:
        draft = _new_object(_Draft)
        draft.type = type
        draft.category = category
        draft.level = level
        draft.start = start
        draft.end = end
        draft.path = path
        draft.score = score
        draft._masked = masked
        draft.value = value
        # the same slots: from here on the frozen class's rules apply
        draft.__class__ = cls  # type: ignore[assignment]
        return draft  # type: ignore[return-value]

    @property
    def masked(self) -> str:
        """The value with its type's mask applied (138****5678)."""
        masked = self._masked
        return masked if isinstance(masked, str) else masked(self.value)

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def _key(self) -> tuple[object, ...]:
        return (self.type, self.category, self.level, self.start, self.end, self.path,
                self.score, self.masked)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Finding) or other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"Finding(type={self.type!r}, category={self.category!r}, "
                f"level={self.level!r}, start={self.start!r}, end={self.end!r}, "
                f"path={self.path!r}, score={self.score!r}, masked={self.masked!r})")

    def __reduce__(self) -> tuple[Any, tuple[object, ...]]:
        return (self.__class__, tuple(getattr(self, name) for name in _FIELDS))

    def to_json(self) -> dict[str, object]:
        """The finding as contract 4 JSON."""
        return {"type": self.type, "category": self.category, "level": self.level,
                "start": self.start, "end": self.end, "path": self.path,
                "score": round(self.score, 2), "masked": self.masked}


@dataclass(frozen=True, slots=True)
class ScanResult:
    """A document's level (the highest found, escalated by rules), categories and findings.

    `columns` maps a CSV header (or a JSON path with `[*]` for array indices) to the finding
    type its column was tagged with; it is empty for text.
    """

    level: str
    categories: list[str]
    findings: list[Finding]
    columns: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """The result as contract 4 JSON."""
        return {"level": self.level, "categories": list(self.categories),
                "findings": [f.to_json() for f in self.findings]}
