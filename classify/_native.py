"""Which build of classify's hot modules runs: mypyc-compiled, or the pure-Python sources.

`setup.py` compiles the modules in `COMPILED` with mypyc and, once they are built, records
a digest of each source in `_native_sources.json`. At import, `choose()` keeps the compiled
modules only when all of them are present and every source still matches its digest;
otherwise (never built, a source edited since, or ZONEGATE_NO_NATIVE set) it makes the
`.py` files load instead, all of them together: compiled modules call each other
directly, so a mix would run code that is not the source. Stale compiled code never runs.

This file imports nothing of classify, so `setup.py` can read it before anything is built.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

COMPILED = ("scanner", "rules", "validators", "extenders", "patterns", "classifier",
            "masking", "structured")
HERE = Path(__file__).resolve().parent
SOURCES_FILE = HERE / "_native_sources.json"
PACKAGE = "classify"


def source_digests(folder: Path = HERE) -> str:
    """The JSON document `setup.py` writes: each compiled module's source SHA-256."""
    return json.dumps({name: _digest(folder / f"{name}.py") for name in COMPILED},
                      indent=1, sort_keys=True) + "\n"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _why_not_native(folder: Path) -> str | None:
    """None when the compiled modules may run; else the reason they may not."""
    if os.environ.get("ZONEGATE_NO_NATIVE"):
        return "ZONEGATE_NO_NATIVE is set"
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    missing = [name for name in COMPILED
               if not any((folder / f"{name}{suffix}").is_file() for suffix in suffixes)]
    if missing:
        return "not compiled (run `make native`)" if len(missing) == len(COMPILED) \
            else f"compiled modules missing: {', '.join(missing)} (run `make native`)"
    try:
        recorded = json.loads((folder / SOURCES_FILE.name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        recorded = None
    if not isinstance(recorded, dict):
        return f"{SOURCES_FILE.name} unreadable (run `make native`)"
    stale = [name for name in COMPILED if recorded.get(name) != _digest(folder / f"{name}.py")]
    if stale:
        return f"sources changed since the build: {', '.join(stale)} (run `make native`)"
    return None


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Loads the named classify modules from their `.py` files, ahead of any extension."""

    def __init__(self, folder: Path, names: Sequence[str]) -> None:
        self._files = {f"{PACKAGE}.{name}": folder / f"{name}.py" for name in names}

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        source = self._files.get(fullname)
        if source is None:
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def choose(folder: Path = HERE) -> str:
    """Make the build that may run the one that loads: "native (mypyc)", or
    "pure Python: <reason>" after putting the sources ahead of the extensions."""
    reason = _why_not_native(folder)
    if reason is None:
        return "native (mypyc)"
    sys.meta_path.insert(0, _SourceFinder(folder, COMPILED))
    return f"pure Python: {reason}"


# Decided once, when classify imports this module and before any hot module loads;
# setup.py reads this file under another name and decides nothing.
MODE = choose() if __name__ == f"{PACKAGE}._native" else ""
