"""Findings and scan results (DESIGN.md contract 4)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Finding:
    """One sensitive value: its type, category, level, span and masked form.

    `start`/`end` are code-point offsets (end exclusive) into the scanned text, or into the
    string value at `path` for JSON and CSV. `value` is the raw text; it is kept out of
    `repr` and `to_json` so a logged finding never leaks what it found.
    """

    type: str
    category: str
    level: str
    start: int
    end: int
    path: str | None
    score: float
    masked: str
    value: str = field(repr=False, compare=False)

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
