"""Alerts POSTed to the control plane; spooled to disk while it is unreachable, none lost.

Each alert is POSTed as one JSON document. When a POST fails (connection refused, timeout,
5xx), the alert is appended (fsynced) to the spool file and no further POST is tried until
`retry_seconds` have passed; then the spool is replayed in order before new alerts, and
rewritten atomically with whatever is still undelivered. A 4xx answer is a permanent
refusal: the alert stays in the spool and the sink reports it rather than drop it.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from monitor.alerts import Incident
from monitor.errors import AlertSinkError
from monitor.sinks.ndjson import append_durably


class HttpSink:
    """POST alerts to `url`; spool in `spool_path` when it cannot."""

    def __init__(self, url: str, spool_path: Path, *, timeout: float = 2.0,
                 retry_seconds: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise AlertSinkError(f"--alerts-url must be an http(s) URL, got {url!r}")
        self.url = url
        self.spool_path = spool_path
        self._timeout = timeout
        self._retry = retry_seconds
        self._clock = clock
        self._next_try = 0.0
        self.delivered = 0
        self.spooled = 0
        self.last_error: str | None = None

    def emit(self, doc: dict[str, object], incident: Incident) -> None:
        body = json.dumps(doc, separators=(",", ":")).encode("utf-8")
        if self._clock() >= self._next_try and self.replay() and self._post(body):
            return
        self._spool(body)

    def replay(self) -> bool:
        """Deliver the spooled alerts in order; True when the spool is empty afterwards."""
        try:
            raw = self.spool_path.read_bytes()
        except FileNotFoundError:
            return True
        except OSError as exc:
            raise AlertSinkError(f"{self.spool_path}: cannot read spool: {exc}") from None
        lines = [line for line in raw.split(b"\n") if line.strip()]
        sent = 0
        for line in lines:
            if not self._post(line):
                break
            sent += 1
        if sent == 0 and lines:
            return False
        rest = lines[sent:]
        tmp = self.spool_path.with_name(self.spool_path.name + ".tmp")
        try:
            with tmp.open("wb") as fh:
                fh.write(b"".join(line + b"\n" for line in rest))
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(self.spool_path)
        except OSError as exc:
            raise AlertSinkError(f"{self.spool_path}: cannot rewrite spool: {exc}") from None
        return not rest

    def _post(self, body: bytes) -> bool:
        request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            self.url, data=body, method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "zonegate-monitor"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as answer:  # noqa: S310
                answer.read()
        except urllib.error.HTTPError as exc:
            self.last_error = f"HTTP {exc.code}"
            exc.close()
            self._next_try = self._clock() + self._retry
            return False
        except (urllib.error.URLError, OSError) as exc:
            self.last_error = str(getattr(exc, "reason", exc))
            self._next_try = self._clock() + self._retry
            return False
        self.delivered += 1
        return True

    def _spool(self, body: bytes) -> None:
        self.spool_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.spool_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        except OSError as exc:
            raise AlertSinkError(f"{self.spool_path}: cannot open spool: {exc}") from None
        try:
            append_durably(fd, body + b"\n", self.spool_path)
        finally:
            os.close(fd)
        self.spooled += 1

    def pending(self) -> int:
        """How many alerts wait in the spool."""
        try:
            return sum(1 for line in self.spool_path.read_bytes().split(b"\n") if line.strip())
        except FileNotFoundError:
            return 0

    def close(self) -> None:
        if self.spool_path.exists():
            self._next_try = 0.0
            self.replay()
