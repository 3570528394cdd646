"""Decision log: OPA-shaped events, masked, written durably to rotating JSONL files.

Each event has OPA's shape (``decision_id``, ``path``, ``input``, ``result``,
``timestamp``, ``bundles.<name>.revision``, ``labels``, ``metrics``, and ``erased`` listing
the masked JSON pointers), so OPA tooling and `zonegate policy replay` read it.

`DecisionLog.record` never blocks a request: it queues the event for a writer thread that
appends, flushes and fsyncs in batches, and rotates the file at `max_bytes` (``log.1`` ..
``log.N``). When the queue is full or a write fails, the event is dropped, counted in
``zonegate_pdp_decision_log_events_total{result="dropped"}`` and reported on the
``gateway.pdp.decision_log`` logger: nothing is dropped silently.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry

from gateway.pdp.metrics import metrics_for
from gateway.pdp.port import Decision, JSONObject, JSONValue, PDPError, PolicyEngine

log = logging.getLogger(__name__)

DEFAULT_MASK = (
    "/input/request/headers/authorization",
    "/input/request/headers/cookie",
    "/input/request/headers/proxy-authorization",
    "/input/request/query/access_token",
    "/input/subject/token",
)
_STOP = object()


def mask_event(event: JSONObject, pointers: Sequence[str]) -> JSONObject:
    """A copy of `event` without the values at `pointers` (listed in ``erased``)."""
    masked = copy.deepcopy(event)
    erased: list[JSONValue] = []
    for pointer in pointers:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
        node: JSONValue = masked
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if parts and isinstance(node, dict) and parts[-1] in node:
            del node[parts[-1]]
            erased.append(pointer)
    if erased:
        masked["erased"] = erased
    return masked


def check_pointers(pointers: Sequence[str]) -> tuple[str, ...]:
    """Validate mask pointers (``/input/...``); raise `PDPError` naming the bad one."""
    for pointer in pointers:
        if not pointer.startswith("/input/") or pointer.endswith("/"):
            raise PDPError(f"decision log mask {pointer!r}: must be a JSON pointer under /input/")
    return tuple(pointers)


class DecisionLog:
    """Append-only JSONL decision log with a writer thread, fsync and rotation."""

    def __init__(
        self,
        path: Path,
        *,
        mask: Sequence[str] = DEFAULT_MASK,
        max_bytes: int = 64 * 1024 * 1024,
        backups: int = 5,
        queue_size: int = 10_000,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if max_bytes <= 0 or backups < 0 or queue_size <= 0:
            raise PDPError("decision log: max_bytes and queue_size must be positive")
        self.path = path
        self.mask = check_pointers(mask)
        self.max_bytes = max_bytes
        self.backups = backups
        self.labels: JSONObject = {"id": str(uuid.uuid4()), "app": "zonegate"}
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._metrics = metrics_for(registry)
        self.written = 0
        self.dropped = 0
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = self._open()
        except OSError as exc:
            raise PDPError(f"decision log {path}: cannot open: {exc.strerror}") from None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="decision-log", daemon=True)
        self._thread.start()

    def record(self, event: JSONObject) -> bool:
        """Queue a masked event; False (and counted, logged) when it had to be dropped."""
        if self._closed:
            self._drop(1, "the log is closed")
            return False
        try:
            self._queue.put_nowait(mask_event(event, self.mask))
        except queue.Full:
            self._drop(1, "the queue is full (the disk is slower than the decisions)")
            return False
        return True

    def close(self) -> None:
        """Write what is queued, then stop the writer thread and close the file."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()
        os.close(self._fd)

    def _open(self) -> int:
        # raw descriptor, no userspace buffer: a failed write leaves nothing behind to retry
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < 512:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(item is _STOP for item in batch)
            events = [item for item in batch if item is not _STOP]
            if events:
                self._write(events)
            if stop:
                return

    def _write(self, events: list[object]) -> None:
        done = 0
        try:
            size = os.fstat(self._fd).st_size
            for event in events:
                line = json.dumps(event, separators=(",", ":"), ensure_ascii=False,
                                  default=str).encode() + b"\n"
                if size and size + len(line) > self.max_bytes:
                    os.fsync(self._fd)
                    self._rotate()
                    size = 0
                _write_all(self._fd, line)
                size += len(line)
                done += 1
            os.fsync(self._fd)
        except OSError as exc:
            self._drop(len(events) - done, f"cannot write {self.path}: {exc.strerror}")
        with self._lock:
            self.written += done
        if done:
            self._metrics.log_events.labels(result="written").inc(done)

    def _rotate(self) -> None:
        os.close(self._fd)
        if self.backups == 0:
            self.path.unlink()
        else:
            for index in range(self.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{index}")
                if older.exists():
                    older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        self._fd = self._open()

    def _drop(self, count: int, why: str) -> None:
        with self._lock:
            self.dropped += count
            total = self.dropped
        self._metrics.log_events.labels(result="dropped").inc(count)
        log.error("decision log: dropped %d event(s), %d in total: %s", count, total, why)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def now_rfc3339() -> str:
    """The current UTC time as RFC 3339 with microseconds and ``Z``."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def make_event(
    *,
    decision_id: str,
    path: str,
    input_doc: JSONObject,
    result: JSONValue,
    revision: str,
    eval_ns: int,
    labels: JSONObject,
    error: str | None = None,
) -> JSONObject:
    """One OPA-shaped decision log event (before masking)."""
    event: JSONObject = {
        "labels": labels,
        "decision_id": decision_id,
        "path": path,
        "input": input_doc,
        "timestamp": now_rfc3339(),
        "bundles": {"zonegate": {"revision": revision}},
        "metrics": {"timer_rego_query_eval_ns": eval_ns},
    }
    if error is None:
        event["result"] = result
    else:
        event["error"] = {"code": "pdp_unavailable", "message": error}
    return event


class LoggedEngine:
    """`PolicyEngine` wrapper: every decision gets a `decision_id` and a log event."""

    def __init__(
        self, inner: PolicyEngine, log: DecisionLog, path: str = "zonegate/authz/decision"
    ) -> None:
        self.inner = inner
        self.log = log
        self.path = path.strip("/")

    @property
    def revision(self) -> str:
        """The inner engine's revision."""
        return self.inner.revision

    async def evaluate(self, input_doc: JSONObject) -> Decision:
        """Evaluate through the inner engine and log the outcome, errors included."""
        decision_id = str(uuid.uuid4())
        revision = self.inner.revision
        start = time.perf_counter_ns()
        try:
            decision = await self.inner.evaluate(input_doc)
        except PDPError as exc:
            self.log.record(make_event(
                decision_id=decision_id, path=self.path, input_doc=input_doc, result=None,
                revision=revision, eval_ns=time.perf_counter_ns() - start,
                labels=self.log.labels, error=str(exc)))
            raise
        self.log.record(make_event(
            decision_id=decision_id, path=self.path, input_doc=input_doc,
            result=decision.to_result(), revision=revision,
            eval_ns=time.perf_counter_ns() - start, labels=self.log.labels))
        return replace(decision, decision_id=decision_id)

    async def close(self) -> None:
        """Close the inner engine and flush the log."""
        try:
            await self.inner.close()
        finally:
            self.log.close()
