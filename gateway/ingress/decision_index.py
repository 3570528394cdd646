"""Every policy decision into the store's decision index, off the request path.

`DecisionIndexWriter.offer` runs on the event loop for each decision the PDP makes: it
puts one small `PendingDecision` on a bounded queue (`put_nowait`) and returns. A writer
thread takes what is queued, up to `batch_size` at a time, masks each policy input as the
decision log masks it (`gateway.pdp.decision_log.DEFAULT_MASK`) and writes the batch with
one `record_many` call; while it writes, the next batch gathers. A slow or absent store
therefore never delays a request: the queue fills and further decisions are dropped.

Nothing is dropped silently. Every decision that does not reach the index is counted in
``zonegate_decision_index_dropped_total{reason}`` and reported on the
``zonegate.ingress.decision_index`` logger at ERROR (queue-full drops, which can come by
the thousand, at most once per `log_every` seconds with the count since the last line):

- ``queue-full``: the store is slower than the decisions (or down, see below);
- ``store-unavailable``: `record_many` failed (the store is down, its schema is not
  migrated); that batch is dropped, not retried, so memory stays bounded;
- ``invalid``: the store refused the record itself (a method or subject it cannot hold);
  the rest of its batch is still written. An input over the store's size bound is not
  a drop: the decision is written without its input, and a warning says so;
- ``closed``: offered after `close`.

`close` writes what is queued, then stops the thread (shutdown flushes).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import cast

from gateway.metrics import GatewayMetrics
from gateway.pdp.decision_log import DEFAULT_MASK, mask_event
from gateway.pdp.port import JSONObject
from gateway.store.errors import InvalidRecord, StoreError
from gateway.store.port import DecisionStore
from gateway.store.types import DecisionRecord

log = logging.getLogger("zonegate.ingress.decision_index")
_STOP = object()
# the store's column bounds (gateway/store/decisions.py): cut here rather than lose the row
_MAX_SUBJECT, _MAX_DEVICE, _MAX_PATH = 256, 128, 8192


@dataclass(frozen=True, slots=True)
class PendingDecision:
    """What the request path hands over; masked and turned into a record by the writer."""

    decision_id: str
    time: datetime
    subject: str
    device: str
    zone: str
    level: str
    method: str
    path: str
    allow: bool
    reasons: tuple[str, ...]
    revision: str
    input: JSONObject  # not copied: the request path never changes it after deciding


class _DropReport:
    """Counts drops and logs them; throttled reasons at most once per `every` seconds,
    the count since the last line included, so a burst is one line and not a flood."""

    def __init__(self, metrics: GatewayMetrics, every: float) -> None:
        self._metrics = metrics
        self._every = every
        self._lock = threading.Lock()
        self._unreported: dict[str, tuple[int, str]] = {}
        self._last: dict[str, float] = {}
        self.total = 0

    def drop(self, count: int, reason: str, why: str, *, throttle: bool) -> None:
        self._metrics.decision_index_dropped.labels(reason).inc(count)
        with self._lock:
            self.total += count
            pending = self._unreported.get(reason, (0, why))[0] + count
            self._unreported[reason] = (pending, why)
        self.report(reason, only_due=throttle)

    def report(self, reason: str | None = None, *, only_due: bool = False) -> None:
        """Log what is unreported (for `reason`, or every reason)."""
        with self._lock:
            reasons = [reason] if reason is not None else list(self._unreported)
            lines = []
            now = time.monotonic()
            for each in reasons:
                count, why = self._unreported.get(each, (0, ""))
                if not count or (only_due and now - self._last.get(each, -self._every)
                                 < self._every):
                    continue
                self._unreported[each] = (0, why)
                self._last[each] = now
                lines.append((count, each, why))
            total = self.total
        for count, each, why in lines:
            log.error("decision index: dropped %d decision(s) (%s), %d in total: %s",
                      count, each, total, why)


class DecisionIndexWriter:
    """A bounded queue of decisions and the thread that writes them to the store."""

    def __init__(self, decisions: DecisionStore, metrics: GatewayMetrics, *,
                 queue_size: int = 10_000, batch_size: int = 500,
                 mask: Sequence[str] = DEFAULT_MASK, log_every: float = 10.0) -> None:
        if queue_size < 1 or batch_size < 1:
            raise ValueError("decision index: queue_size and batch_size must be positive")
        self._decisions = decisions
        self._metrics = metrics
        self._batch_size = batch_size
        self._mask = tuple(mask)
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._drops = _DropReport(metrics, log_every)
        self._log_every = log_every
        self._thread: threading.Thread | None = None
        self._lifecycle = threading.Lock()
        self._closed = False
        self.written = 0

    @property
    def dropped(self) -> int:
        """Decisions that never reached the index, whatever the reason."""
        return self._drops.total

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        with self._lifecycle:
            if not self._closed:
                self._spawn()

    def offer(self, decision: PendingDecision) -> bool:
        """Queue one decision without blocking; False (counted, logged) when dropped."""
        if self._closed:
            self._drops.drop(1, "closed", "the writer is closed", throttle=True)
            return False
        try:
            self._queue.put_nowait(decision)
        except queue.Full:
            self._drops.drop(1, "queue-full", f"{self._queue.maxsize} decisions are already "
                             "waiting (the store is slower than the gateway, or down)",
                             throttle=True)
            return False
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, then stop the thread; blocking (run it in a thread).

        A store that cannot take the queue within `timeout` seconds costs what is still
        queued: counted and logged as dropped (``closed``), and shutdown goes on.
        """
        with self._lifecycle:
            if self._closed:
                return
            self._closed = True
            thread = self._spawn()  # closed before started: what is queued is still written
        deadline = time.monotonic() + timeout
        with contextlib.suppress(queue.Full):  # the thread stays stuck: counted below
            self._queue.put(_STOP, timeout=timeout)
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            self._drops.drop(self._queue.qsize(), "closed",
                             f"not written within {timeout:g} s of shutdown", throttle=False)
        self._drops.report()

    def _spawn(self) -> threading.Thread:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="decision-index",
                                            daemon=True)
            self._thread.start()
        return self._thread

    # writer thread --------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                batch = [self._queue.get(timeout=self._log_every)]
            except queue.Empty:
                self._drops.report(only_due=True)  # the tail of a burst, once traffic stops
                continue
            while len(batch) < self._batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            pending = [item for item in batch if isinstance(item, PendingDecision)]
            if pending:
                self._write([self._record(item) for item in pending])
            self._drops.report(only_due=True)  # the tail of a throttled burst
            if any(item is _STOP for item in batch):
                return

    def _record(self, item: PendingDecision) -> DecisionRecord:
        masked = mask_event({"input": item.input}, self._mask)["input"]
        return DecisionRecord(
            decision_id=item.decision_id, time=item.time, subject=item.subject[:_MAX_SUBJECT],
            device=item.device[:_MAX_DEVICE] or None, zone=item.zone, method=item.method,
            path=item.path[:_MAX_PATH], allow=item.allow, reasons=item.reasons,
            level=item.level or None, revision=item.revision[:128] or None,
            input=cast(dict[str, object], masked))

    def _write(self, records: list[DecisionRecord]) -> None:
        try:
            self._decisions.record_many(records)
        except InvalidRecord:
            self._write_one_by_one(records)  # keep the valid ones
            return
        except StoreError as exc:
            self._drops.drop(len(records), "store-unavailable", str(exc), throttle=False)
            return
        self._written(len(records))

    def _write_one_by_one(self, records: list[DecisionRecord]) -> None:
        for record in records:
            try:
                self._decisions.record_many([record])
            except InvalidRecord as exc:
                if record.input is not None and str(exc).startswith("input:"):
                    log.warning("decision index: %s written without its input: %s",
                                record.decision_id, exc)
                    self._write([replace(record, input=None)])
                    continue
                self._drops.drop(1, "invalid", f"{record.decision_id}: {exc}", throttle=False)
                continue
            except StoreError as exc:
                self._drops.drop(1, "store-unavailable", str(exc), throttle=False)
                continue
            self._written(1)

    def _written(self, count: int) -> None:
        self.written += count
        self._metrics.decision_index_written.inc(count)
