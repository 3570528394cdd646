"""One way for every benchmark to print its table and write its JSON."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).resolve().parent / "results"


def report(
    name: str,
    rows: Sequence[Mapping[str, object]],
    *,
    title: str,
    notes: Sequence[str] = (),
) -> Path:
    """Print `rows` as a table titled `title` and write them, with machine facts, to JSON."""
    table = Table(title=title)
    columns = list(rows[0].keys()) if rows else []
    for column in columns:
        table.add_column(column, justify="right" if _numeric(rows, column) else "left")
    for row in rows:
        table.add_row(*(_fmt(row.get(column)) for column in columns))
    console = Console()
    console.print(table)
    for note in notes:
        console.print(f"  {note}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "title": title,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
        "rows": list(rows),
        "notes": list(notes),
    }
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(out)
    console.print(f"  wrote {out}")
    return out


def _numeric(rows: Sequence[Mapping[str, object]], column: str) -> bool:
    return all(isinstance(r.get(column), int | float) for r in rows if r.get(column) is not None)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)
