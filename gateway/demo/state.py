"""The demo's state folder: created fresh for each run, never someone else's files.

A folder the demo made carries a marker file; only such a folder (or an empty one) is
cleared for a new run. Anything else is refused with `StateDirError`.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from gateway.demo.errors import StateDirError

MARKER = ".zonegate-demo"


def prepare(path: Path) -> Path:
    """Make `path` an empty demo state folder; returns it resolved."""
    path = path.resolve()
    if path.exists() and not path.is_dir():
        raise StateDirError(f"--state-dir {path}: exists and is not a folder")
    if path.is_dir() and any(path.iterdir()):
        if not (path / MARKER).is_file():
            raise StateDirError(f"--state-dir {path}: not empty and not made by 'zonegate "
                                "demo'; give an empty or new folder")
        clear(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        (path / MARKER).write_text("state of 'zonegate demo'; cleared by the next run\n",
                                   encoding="utf-8")
    except OSError as exc:
        raise StateDirError(f"--state-dir {path}: cannot write: {exc.strerror}") from None
    return path


def temporary() -> Path:
    """A new temporary state folder."""
    return prepare(Path(tempfile.mkdtemp(prefix="zonegate-demo-")))


def clear(path: Path) -> None:
    """Remove a demo state folder (only one carrying the marker)."""
    if not (path / MARKER).is_file():
        raise StateDirError(f"{path}: not a 'zonegate demo' state folder; not removing it")
    try:
        shutil.rmtree(path)
    except OSError as exc:
        raise StateDirError(f"{path}: cannot remove: {exc.strerror}") from None
