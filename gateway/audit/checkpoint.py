"""Checkpoints: the chain's durable tip, anchored outside the log.

A hash chain only proves that a file agrees with itself: cut off its last records (the
`shutdown` record with them) and what is left is a shorter chain that agrees with itself
just as well. So the running gateway writes checkpoints (gateway/audit/checkpointer.py):
the last durable record's seq and hash, the chain's name (the hash of record 1), the log's
path, the time, host and pid, one JSON line each::

    {"chain":"…","final":false,"hash":"…","host":"gw-1","log":"/var/lib/zonegate/audit.jsonl",
     "pid":4242,"seq":1207,"time":"2026-11-25T09:45:51.691015Z","v":1}

to a JSONL file meant to be shipped off the box, and to the store's change audit (action
`audit.checkpoint`) when the gateway has a store. `zonegate audit verify --checkpoints
FILE --store URL` then proves that every record a checkpoint saw is still in the log,
unchanged (`match_checkpoints`).

Which checkpoints bind a log: those whose `chain` is the hash of the log's record 1,
wherever the file was when they were taken, so a log rotated to another name is still
checked against its own checkpoints. A checkpoint of another chain is ignored: one of a
log rotated away, or of another worker, even when it names this path (a log restarted
afresh at the same path after rotation). A log replaced wholesale, from record 1 on, looks
the same, so `verify` counts such checkpoints in a note: compare the `chain` it prints.
"""

from __future__ import annotations

import hmac
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from gateway.audit.errors import CheckpointMalformed, CheckpointMismatch, CheckpointWriteError
from gateway.errors import GatewayError

if TYPE_CHECKING:
    from gateway.audit.verify import VerifyReport
    from gateway.store.port import AuditLog as ChangeAudit

ACTION = "audit.checkpoint"  # the store's change-audit action
ACTOR = "zonegate-ingress"
VERSION = 1
MAX_LINE = 4096
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_KEYS = frozenset({"v", "log", "chain", "seq", "hash", "time", "host", "pid", "final"})


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One observation of a chain's durable tip."""

    log: str  # absolute path of the audit file when the checkpoint was taken
    chain: str  # hash of record 1
    seq: int
    hash: str
    time: str  # RFC 3339, when the checkpoint was taken
    host: str
    pid: int
    final: bool = False  # taken after the `shutdown` record of a clean stop
    source: str = field(default="", compare=False)  # where it was read: file:line, store row

    def to_json(self) -> dict[str, object]:
        """The stored form (file line, store details)."""
        return {"v": VERSION, "log": self.log, "chain": self.chain, "seq": self.seq,
                "hash": self.hash, "time": self.time, "host": self.host, "pid": self.pid,
                "final": self.final}


def parse_checkpoint(raw: object, where: str) -> Checkpoint:
    """Validate one stored checkpoint; CheckpointMalformed names `where` and the fault."""

    def bad(reason: str) -> CheckpointMalformed:
        return CheckpointMalformed(f"{where}: not a checkpoint: {reason}")

    if not isinstance(raw, dict):
        raise bad("not a JSON object")
    missing = sorted(_KEYS - set(raw))
    if missing:
        raise bad(f"missing {', '.join(missing)}")
    if raw["v"] != VERSION:
        raise bad(f"version {raw['v']!r}, this code reads {VERSION}")
    seq, pid = raw["seq"], raw["pid"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise bad("seq must be an integer >= 1")
    if not isinstance(pid, int) or isinstance(pid, bool):
        raise bad("pid must be an integer")
    for name in ("chain", "hash"):
        value = raw[name]
        if not isinstance(value, str) or not _HEX64.match(value):
            raise bad(f"{name} must be 64 lower-case hex digits")
    for name in ("log", "time", "host"):
        if not isinstance(raw[name], str) or not raw[name]:
            raise bad(f"{name} must be a non-empty string")
    if not isinstance(raw["final"], bool):
        raise bad("final must be true or false")
    return Checkpoint(log=raw["log"], chain=raw["chain"], seq=seq, hash=raw["hash"],
                      time=raw["time"], host=raw["host"], pid=pid, final=raw["final"],
                      source=where)


def read_checkpoint_file(path: Path) -> tuple[list[Checkpoint], bool]:
    """Every checkpoint in a JSONL file, and whether its last line was torn (ignored).

    A last line without its newline is a write a crash cut short; any other line that is
    not a checkpoint raises CheckpointMalformed naming file:line.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointMalformed(f"{path}: cannot read: {exc.strerror}") from None
    lines = data.split(b"\n")
    torn = lines.pop() != b""  # what follows the last newline
    found: list[Checkpoint] = []
    for number, line in enumerate(lines, start=1):
        where = f"{path}:{number}"
        if len(line) > MAX_LINE:
            raise CheckpointMalformed(f"{where}: not a checkpoint: longer than {MAX_LINE} bytes")
        try:
            raw = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise CheckpointMalformed(f"{where}: not a checkpoint: not JSON") from None
        found.append(parse_checkpoint(raw, where))
    return found, torn


def read_store_checkpoints(audit: ChangeAudit, where: str) -> list[Checkpoint]:
    """Every checkpoint in the store's change audit, oldest first (`where` names the store)."""
    found: list[Checkpoint] = []
    cursor: str | None = None
    while True:
        page = audit.list(action=ACTION, limit=1000, cursor=cursor)
        found.extend(parse_checkpoint(row.details, f"{where}: change_audit row {row.id}")
                     for row in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    found.reverse()
    return found


class CheckpointSink(Protocol):
    """Where checkpoints go; `write` raises CheckpointWriteError, and only that."""

    name: str  # the `sink` label of zonegate_audit_checkpoint_errors_total

    def write(self, checkpoint: Checkpoint) -> None:
        """Store one checkpoint durably before returning."""
        ...

    def close(self) -> None:
        """Release the sink; no write follows."""
        ...


class CheckpointFile:
    """Appends checkpoints to a JSONL file (mode 0600), one write and one fsync each."""

    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                               0o600)
        except OSError as exc:
            raise CheckpointWriteError(
                f"{path}: cannot open the audit checkpoint file: {exc.strerror}") from None
        try:
            self._cut_torn_line()
        except OSError as exc:
            os.close(self._fd)
            raise CheckpointWriteError(
                f"{path}: cannot prepare the audit checkpoint file: {exc.strerror}") from None

    def _cut_torn_line(self) -> None:
        # a line a crash cut short would otherwise run into the next one
        size = os.fstat(self._fd).st_size
        if size == 0:
            return
        start = max(0, size - MAX_LINE - 1)
        chunk = os.pread(self._fd, size - start, start)
        if chunk.endswith(b"\n"):
            return
        cut = chunk.rfind(b"\n")
        if cut < 0 and start > 0:
            return  # not a line we wrote: leave it for verify to name
        os.ftruncate(self._fd, start + cut + 1)
        os.fsync(self._fd)

    def write(self, checkpoint: Checkpoint) -> None:
        """Append and fsync one line."""
        line = json.dumps(checkpoint.to_json(), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False).encode("utf-8") + b"\n"
        try:
            written = os.write(self._fd, line)
            if written != len(line):  # a full disk: leave no half line behind
                raise OSError(28, "short write (disk full?)")
            os.fsync(self._fd)
        except OSError as exc:
            raise CheckpointWriteError(
                f"{self.path}: cannot write an audit checkpoint: {exc.strerror}") from None

    def close(self) -> None:
        """Close the file."""
        os.close(self._fd)


class StoreCheckpoints:
    """Records checkpoints in the store's change audit, one transaction each."""

    name = "store"

    def __init__(self, audit: ChangeAudit) -> None:
        self._audit = audit

    def write(self, checkpoint: Checkpoint) -> None:
        """One change-audit row: actor zonegate-ingress, action audit.checkpoint."""
        try:
            self._audit.record(ACTOR, ACTION, checkpoint.log[-256:], checkpoint.to_json())
        except GatewayError as exc:  # the store's errors: unavailable, not migrated, refused
            raise CheckpointWriteError(f"store: cannot record an audit checkpoint: {exc}") \
                from None

    def close(self) -> None:
        """Nothing to release: the store is the gateway's."""


@dataclass(frozen=True, slots=True)
class CheckpointMatch:
    """What the checkpoints said about an intact chain."""

    matched: int  # checkpoints of this chain, every one found in the log
    latest: Checkpoint | None  # the one with the highest seq
    other_chain_here: int  # checkpoints naming this path but another chain (ignored)
    read: int  # checkpoints read in all


def match_checkpoints(log: Path, report: VerifyReport,
                      checkpoints: Iterable[Checkpoint]) -> CheckpointMatch:
    """Check an intact chain (`report`, walked with `anchors=checkpoint_seqs(...)`) against
    checkpoints.

    Raises CheckpointMismatch, naming the earliest record a checkpoint of this chain saw
    changed, else the checkpoint that saw the most records the log no longer holds.
    """
    here = str(log.resolve())
    every = list(checkpoints)
    ours: list[Checkpoint] = []
    other_here = 0
    for c in every:
        if report.first is not None and hmac.compare_digest(c.chain, report.first):
            ours.append(c)
        elif c.log == here:
            other_here += 1
    changed = [c for c in ours if c.seq <= report.records
               and not hmac.compare_digest(report.hashes.get(c.seq, ""), c.hash)]
    if changed:
        c = min(changed, key=lambda cp: cp.seq)
        raise CheckpointMismatch(
            f"{log}: record seq {c.seq} differs from checkpoint at {c.time} ({c.source}): "
            f"the log has hash {report.hashes.get(c.seq, '?')}, the checkpoint saw {c.hash}")
    beyond = [c for c in ours if c.seq > report.records]
    if beyond:
        c = max(beyond, key=lambda cp: cp.seq)
        raise CheckpointMismatch(
            f"{log}: records after seq {report.records} were deleted: checkpoint at {c.time} "
            f"({c.source}) saw seq {c.seq} hash {c.hash}")
    latest = max(ours, key=lambda cp: cp.seq, default=None)
    return CheckpointMatch(matched=len(ours), latest=latest, other_chain_here=other_here,
                           read=len(every))


def checkpoint_seqs(checkpoints: Sequence[Checkpoint]) -> frozenset[int]:
    """The seqs whose hashes `verify_log(anchors=...)` must keep for `match_checkpoints`."""
    return frozenset(c.seq for c in checkpoints)
