"""The append side of the audit log: a writer thread with group commit and crash recovery.

Records are handed to one writer thread, which chains them (so the order in the file is
the order of the chain), writes every record that is waiting in one `write(2)` and then
calls `fsync(2)` once for the group: the commit window is bounded by one fsync, never by a
timer. With `sync="group"` a caller's `append` completes only when its record is durable
(fsync'd), so after `kill -9` or a power loss only records whose `append` had not
completed can be missing.

`sync="background"` completes `append` as soon as the record has been written to the file
(`write(2)` returned: it is in the kernel and survives `kill -9` of the process), and a
second thread fsyncs behind the writer, one fsync per group of writes. After `kill -9` the
promise is the same as `group`'s; after a power loss or kernel crash the records written
during at most the last two fsyncs (the one in flight and the one it was waiting on) can
be missing even though they were answered. `durable_seq` tells how far fsync has reached.
An fsync failure marks the log failed, exactly like a write failure.

`tip` is the durable end of the chain as one `(seq, hash)` pair, read in one step so the
two always belong to the same record: it is what a checkpoint anchors off the box
(gateway/audit/checkpoint.py). `chain` is the hash of record 1, which names the chain.

On open, a log that does not end with a `shutdown` record was not closed cleanly: a torn
last line is cut off (its length and SHA-256 are kept) and a `recovery` record continues
the chain, so the restart is itself on the record.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, NamedTuple

from gateway.audit.chain import GENESIS, MalformedRecord, parse_record, seal
from gateway.audit.errors import AuditError, AuditUnreadable, AuditWriteError

SyncMode = Literal["background", "group", "always", "off"]
_TAIL_WINDOW = (1 << 20) + 2
_STOP = object()
_log = logging.getLogger("zonegate.audit")


class AuditTip(NamedTuple):
    """The last record of the chain that is durable: its sequence number and hash."""

    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class Recovery:
    """What the restart found: the previous run ended without a clean shutdown."""

    last_seq: int
    torn_bytes: int
    torn_sha256: str | None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class _Pending:
    kind: str
    event: dict[str, object]
    # a thread's caller waits on a concurrent future, a coroutine on its loop's future
    future: concurrent.futures.Future[int] | asyncio.Future[int]


_Outcome = tuple[asyncio.Future[int], int | BaseException]


def _settle(outcomes: list[_Outcome]) -> None:
    """On the waiters' event loop: complete a batch's futures (cancelled ones stay so)."""
    for future, outcome in outcomes:
        if future.done():  # its caller was cancelled; the record is written all the same
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


class AuditLog:
    """An open, append-only, hash-chained audit log."""

    def __init__(self, path: Path, fd: int, seq: int, head: str, sync: SyncMode,
                 max_backlog: int, recovery: Recovery | None,
                 chain: str | None = None) -> None:
        self.path = path
        self.recovery = recovery
        self._fd = fd
        self._seq = seq  # the writer thread's own; other threads read `_written`
        self._head = head
        self._chain = chain if seq else None
        # each tip is replaced as one tuple: a reader never pairs a seq with another hash
        self._written = AuditTip(seq, head)
        self._durable = AuditTip(seq, head)
        self._sync = sync
        self._queue: queue.Queue[_Pending | object] = queue.Queue(maxsize=max_backlog)
        self._failed: AuditWriteError | None = None
        self._closed = False
        self._unsynced = threading.Event()  # set: bytes written that no fsync has covered
        self._syncer_stop = False
        self._syncer: threading.Thread | None = None
        if sync == "background":
            self._syncer = threading.Thread(target=self._sync_loop, name="zonegate-audit-sync",
                                            daemon=True)
            self._syncer.start()
        self._thread = threading.Thread(target=self._run, name="zonegate-audit", daemon=True)
        self._thread.start()

    @classmethod
    def open(cls, path: Path, *, sync: SyncMode = "group", max_backlog: int = 10_000,
             on_recovery: Callable[[Recovery], None] | None = None) -> AuditLog:
        """Open (or create) the log at `path`, recovering from an unclean shutdown."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise AuditUnreadable(f"{path}: cannot open the audit log: {exc.strerror}") from None
        try:
            seq, head, recovery = _recover(path, fd)
            if recovery is not None:
                line, digest = seal(seq + 1, _now(), "recovery", head, {
                    "reason": "unclean-shutdown",
                    "last_seq": recovery.last_seq,
                    "torn_bytes": recovery.torn_bytes,
                    "torn_sha256": recovery.torn_sha256,
                })
                os.write(fd, line)
                os.fsync(fd)
                seq, head = seq + 1, digest
                if on_recovery is not None:
                    on_recovery(recovery)
            chain = _first_hash(path, fd) if seq else None
        except OSError as exc:
            os.close(fd)
            raise AuditWriteError(f"{path}: cannot prepare the audit log: {exc.strerror}") \
                from None
        except AuditError:
            os.close(fd)
            raise
        return cls(path, fd, seq, head, sync, max_backlog, recovery, chain)

    @property
    def tip(self) -> AuditTip:
        """The last record known to be fsync'd (with sync off: written), as one pair."""
        return self._durable

    @property
    def head(self) -> str:
        """Hash of the last durable record (a value to anchor elsewhere)."""
        return self._durable.hash

    @property
    def durable_seq(self) -> int:
        """Sequence number of the last record known to be fsync'd (with sync off: written)."""
        return self._durable.seq

    @property
    def chain(self) -> str | None:
        """Hash of record 1, which names this chain; None while the log is empty."""
        return self._chain

    @property
    def healthy(self) -> bool:
        """False once a write failed or the log was closed: callers must fail closed."""
        return self._failed is None and not self._closed

    def submit(self, kind: str, event: dict[str, object]) -> concurrent.futures.Future[int]:
        """Queue a record; the future gives its sequence number once it is durable.

        Cancelling the future does not withdraw the record: it is written all the same.
        """
        future: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._enqueue(_Pending(kind, event, future))
        return future

    async def append(self, kind: str, event: dict[str, object]) -> int:
        """Append a record and wait until it is durable; returns its sequence number.

        The writer completes a whole batch of waiters on one loop with one wake-up
        (`call_soon_threadsafe`), not one per record. A cancelled caller's record is still
        written, in its place in the chain.
        """
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._enqueue(_Pending(kind, event, future))
        return await future

    def _enqueue(self, pending: _Pending) -> None:
        if self._failed is not None:
            raise self._failed
        if self._closed:
            raise AuditWriteError(f"{self.path}: the audit log is closed")
        try:
            self._queue.put_nowait(pending)
        except queue.Full:
            raise AuditWriteError(f"{self.path}: audit backlog is full") from None

    def append_sync(self, kind: str, event: dict[str, object]) -> int:
        """Blocking form of `append` for threads that are not an event loop."""
        return self.submit(kind, event).result()

    def close(self) -> None:
        """Write the `shutdown` record, flush and close. Idempotent."""
        if self._closed:
            return
        if self._failed is None:
            try:
                self.append_sync("shutdown", {})
            except AuditWriteError as exc:
                # the next open sees no shutdown record and notes a recovery
                _log.error("audit: cannot write the shutdown record: %s", exc)
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()
        if self._syncer is not None:
            self._syncer_stop = True
            self._unsynced.set()
            self._syncer.join()
            if self._failed is None:
                try:
                    os.fsync(self._fd)
                    self._durable = self._written
                except OSError as exc:
                    _log.error("audit: final fsync failed: %s", exc.strerror)
        os.close(self._fd)

    def _sync_loop(self) -> None:
        while True:
            self._unsynced.wait()
            self._unsynced.clear()
            if self._syncer_stop:
                return
            written = self._written  # every record up to here has been written
            try:
                os.fsync(self._fd)
            except OSError as exc:
                # answered records may not survive a power loss: stop taking new ones
                self._failed = AuditWriteError(
                    f"{self.path}: audit fsync failed: {exc.strerror}")
                _log.error("audit: %s", self._failed)
                return
            if written.seq > self._durable.seq:  # only this thread moves it forward
                self._durable = written

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < 1024:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self._queue.put(_STOP)
                    break
                batch.append(item)
            pendings = [p for p in batch if isinstance(p, _Pending)]
            try:
                self._commit(pendings)
            except BaseException as exc:  # a bug here must not leave callers waiting forever
                _log.exception("audit: the writer failed")
                if self._failed is None:
                    self._failed = AuditWriteError(f"{self.path}: the audit writer failed: {exc!r}")
                self._resolve([(p, self._failed) for p in pendings])

    def _resolve(self, outcomes: list[tuple[_Pending, int | BaseException]]) -> None:
        """Complete each caller's future; coroutines get one wake-up per loop per batch."""
        by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for pending, outcome in outcomes:
            future = pending.future
            if isinstance(future, asyncio.Future):
                by_loop.setdefault(future.get_loop(), []).append((future, outcome))
            elif future.set_running_or_notify_cancel():  # False: cancelled, nobody waits
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
        for loop, items in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle, items)

    def _commit(self, batch: list[_Pending]) -> None:
        if self._failed is not None:
            self._resolve([(pending, self._failed) for pending in batch])
            return
        lines: list[bytes] = []
        outcomes: list[tuple[_Pending, int | BaseException]] = []  # in the batch's order
        seq, head = self._seq, self._head
        first = self._chain
        for pending in batch:
            try:
                line, head_next = seal(seq + 1, _now(), pending.kind, head, pending.event)
            except (TypeError, ValueError) as exc:
                outcomes.append((pending, AuditWriteError(
                    f"audit event is not JSON-serialisable: {exc}")))
                continue
            seq += 1
            head = head_next
            if seq == 1:
                first = head
            lines.append(line)
            outcomes.append((pending, seq))
        try:
            if self._sync == "always":
                for line in lines:
                    _write_all(self._fd, line)
                    os.fsync(self._fd)
            else:
                _write_all(self._fd, b"".join(lines))
                if self._sync == "group":
                    os.fsync(self._fd)
        except OSError as exc:
            self._failed = AuditWriteError(f"{self.path}: audit write failed: {exc.strerror}")
            failed = self._failed
            self._resolve([(pending, outcome if isinstance(outcome, BaseException) else failed)
                           for pending, outcome in outcomes])
            return
        self._chain = first  # set before the tip moves: a reader of tip.seq >= 1 sees it
        self._seq, self._head = seq, head
        self._written = AuditTip(seq, head)
        if self._sync == "background":
            self._unsynced.set()
        else:
            self._durable = self._written
        self._resolve(outcomes)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _first_hash(path: Path, fd: int) -> str:
    """The hash of record 1 (the chain's name); AuditError if the first line is bad."""
    data = os.pread(fd, _TAIL_WINDOW, 0)
    end = data.find(b"\n")
    try:
        if end < 0:
            raise MalformedRecord("the first line has no end")
        record = parse_record(data[:end])
    except MalformedRecord as exc:
        raise AuditError(f"{path}: the first record is bad: {exc}; run 'zonegate audit "
                         "verify' before appending") from None
    if record.seq != 1:
        raise AuditError(f"{path}: the first record has seq {record.seq}, not 1; run "
                         "'zonegate audit verify' before appending")
    return record.hash


def _recover(path: Path, fd: int) -> tuple[int, str, Recovery | None]:
    """Find the chain's last record; cut off a torn tail. Returns (seq, head, recovery)."""
    size = os.fstat(fd).st_size
    if size == 0:
        return 0, GENESIS, None
    start = max(0, size - _TAIL_WINDOW)
    data = os.pread(fd, size - start, start)
    cut = data.rfind(b"\n")
    torn = data[cut + 1:]
    complete = data[:cut] if cut >= 0 else b""
    if cut < 0 and start > 0:
        raise AuditError(f"{path}: the last record is longer than any record we write; "
                         "run 'zonegate audit verify'")
    line_start = complete.rfind(b"\n") + 1
    if line_start == 0 and start > 0 and complete:
        raise AuditError(f"{path}: cannot find the last record; run 'zonegate audit verify'")
    last_line = complete[line_start:]
    seq, head, last_kind = 0, GENESIS, "shutdown"
    if last_line:
        try:
            last = parse_record(last_line)
        except MalformedRecord as exc:
            raise AuditError(
                f"{path}: the last complete record (byte {start + line_start}) is bad: {exc}; "
                "run 'zonegate audit verify' before appending") from None
        seq, head, last_kind = last.seq, last.hash, last.kind
    if torn:
        try:
            record = parse_record(torn)
        except MalformedRecord:
            record = None
        if record is not None and record.seq == seq + 1 and record.prev == head:
            # the record was written whole and only its newline is missing: keep it
            os.write(fd, b"\n")
            return record.seq, record.hash, Recovery(record.seq, 0, None) \
                if record.kind != "shutdown" else None
        os.ftruncate(fd, size - len(torn))
        return seq, head, Recovery(seq, len(torn), hashlib.sha256(torn).hexdigest())
    if last_kind != "shutdown":
        return seq, head, Recovery(seq, 0, None)
    return seq, head, None
