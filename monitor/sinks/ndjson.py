"""Alerts as NDJSON, flushed and fsynced per alert so they survive a crash."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from monitor.alerts import Incident
from monitor.errors import AlertSinkError


def append_durably(fd: int, line: bytes, path: Path) -> None:
    """Write one whole line and fsync it (pipes and terminals cannot be fsynced: skipped)."""
    try:
        view = memoryview(line)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.fsync(fd)
    except OSError as exc:
        raise AlertSinkError(f"{path}: cannot write alert: {exc.strerror or exc}") from None


class NdjsonSink:
    """Appends one ECS alert per line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        except OSError as exc:
            raise AlertSinkError(f"{path}: cannot open for alerts: {exc.strerror or exc}") from None
        self.written = 0

    def emit(self, doc: dict[str, object], incident: Incident) -> None:
        line = json.dumps(doc, separators=(",", ":"), sort_keys=False) + "\n"
        append_durably(self._fd, line.encode("utf-8"), self.path)
        self.written += 1

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
