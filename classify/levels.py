"""Sensitivity levels L1..L6 (DESIGN.md contract 4) and their order."""

from __future__ import annotations

LEVELS: tuple[str, ...] = ("L1", "L2", "L3", "L4", "L5", "L6")
_RANK = {level: index for index, level in enumerate(LEVELS)}


def is_level(value: object) -> bool:
    """True when `value` is one of L1..L6."""
    return isinstance(value, str) and value in _RANK


def rank(level: str) -> int:
    """Position of `level` in the order (L1 -> 0); ValueError for anything else."""
    try:
        return _RANK[level]
    except KeyError:
        raise ValueError(f"not a level: {level!r} (expected one of {', '.join(LEVELS)})") from None


def highest(*levels: str) -> str:
    """The highest of `levels` (就高从严); L1 when none are given."""
    best = 0
    for level in levels:
        best = max(best, rank(level))
    return LEVELS[best]
