"""The running gateway's checkpoint writer: a thread of its own, never the request path.

Every `interval` seconds it reads the audit log's durable tip (one `(seq, hash)` pair,
`AuditLog.tip`, so the two always name the same record, and only records fsync'd: with
`audit_sync: off`, written) and, when the tip moved since a sink last took it, writes a
checkpoint to that sink. A sink that fails is logged (once per run of failures), counted
through `on_error` (zonegate_audit_checkpoint_errors_total{sink}) and tried again on the
next tick; the gateway keeps serving. `close`, called after the log's own `close`, writes
the final checkpoint, which covers the `shutdown` record.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.audit.checkpoint import Checkpoint, CheckpointFile, CheckpointSink, StoreCheckpoints
from gateway.audit.errors import CheckpointWriteError
from gateway.audit.log import AuditLog

if TYPE_CHECKING:
    from gateway.store.port import AuditLog as ChangeAudit

_log = logging.getLogger("zonegate.audit")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class AuditCheckpointer:
    """Anchors an audit log's durable tip in every sink, periodically and at shutdown."""

    def __init__(self, log: AuditLog, sinks: Sequence[CheckpointSink], *, interval: float,
                 on_error: Callable[[str], None] | None = None) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self._log = log
        self._sinks = tuple(sinks)
        self._interval = interval
        self._on_error = on_error
        self._taken = {sink.name: 0 for sink in self._sinks}  # last seq each sink holds
        self._failing: set[str] = set()
        self._where = str(log.path.resolve())
        self._host = socket.gethostname() or "unknown"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def sink_names(self) -> tuple[str, ...]:
        """The `sink` label of each sink, in order."""
        return tuple(sink.name for sink in self._sinks)

    def start(self) -> None:
        """Take a first checkpoint at once (a restart anchors what it found), then tick."""
        self._thread = threading.Thread(target=self._run, name="zonegate-audit-checkpoint",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop ticking, write the final checkpoint, close the sinks. Idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.checkpoint(final=True)
        for sink in self._sinks:
            sink.close()

    def checkpoint(self, *, final: bool = False) -> Checkpoint | None:
        """Write the current durable tip to every sink that lacks it; returns it (or None)."""
        tip = self._log.tip
        chain = self._log.chain
        if tip.seq == 0 or chain is None:
            return None
        checkpoint = Checkpoint(log=self._where, chain=chain, seq=tip.seq, hash=tip.hash,
                                time=_now(), host=self._host, pid=os.getpid(), final=final)
        for sink in self._sinks:
            if self._taken[sink.name] >= tip.seq:
                continue
            try:
                sink.write(checkpoint)
            except CheckpointWriteError as exc:
                if sink.name not in self._failing:
                    _log.error("audit checkpoint not written; retrying every %.1f s",
                               self._interval, extra={"sink": sink.name, "error": str(exc)})
                    self._failing.add(sink.name)
                if self._on_error is not None:
                    self._on_error(sink.name)
                continue
            if sink.name in self._failing:
                self._failing.discard(sink.name)
                _log.info("audit checkpoints written again", extra={"sink": sink.name})
            self._taken[sink.name] = tip.seq
        return checkpoint

    def _run(self) -> None:
        while True:
            self.checkpoint()
            if self._stop.wait(self._interval):
                return


def default_checkpoint_path(audit_log: Path) -> Path:
    """`<audit log>.checkpoints`, beside the log (each worker's log has its own)."""
    return audit_log.with_name(audit_log.name + ".checkpoints")


def start_checkpoints(log: AuditLog, *, file: Path | None, store_audit: ChangeAudit | None,
                      interval: float,
                      errors: Callable[[str], None] | None = None) -> AuditCheckpointer:
    """Open the sinks (the file always, the store's change audit when given) and start.

    A checkpoint file that cannot be opened is a start-up error (CheckpointWriteError):
    a gateway told to anchor its log must not run without saying it cannot.
    """
    sinks: list[CheckpointSink] = [CheckpointFile(file or default_checkpoint_path(log.path))]
    if store_audit is not None:
        sinks.append(StoreCheckpoints(store_audit))
    checkpointer = AuditCheckpointer(log, sinks, interval=interval, on_error=errors)
    checkpointer.start()
    return checkpointer
