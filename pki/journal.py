"""The inventory journal, `<dir>/inventory.journal.jsonl`: one fsynced JSON line per change.

The first line is a header naming the snapshot generation the journal extends:

    {"op": "journal", "version": 1, "generation": 7}

Every other line is one change (`add`, `revoke`, `prune`, `crl`; see pki.inventory). Lines
are appended only under the CA lock, each batch with one write and one fsync, so a crash can
leave at most the last line torn (no final newline). Reading ignores and reports such a line;
the next writer, holding the lock, cuts it off before appending. Any other malformed line is
an error naming `file:line`: a journal line is never dropped silently.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from pki.durable import fsync_directory
from pki.errors import CACorrupt, PKIError

__all__ = ["JOURNAL_NAME", "JOURNAL_VERSION", "JournalRead", "read_journal", "write_journal"]

JOURNAL_NAME = "inventory.journal.jsonl"
JOURNAL_VERSION = 1
_log = logging.getLogger("pki.inventory")


@dataclass(frozen=True, slots=True)
class JournalRead:
    """What one read of the journal found, from a byte offset to the last complete line."""

    inode: int
    records: tuple[tuple[int, dict[str, object]], ...]  # (line number, change), header excluded
    end: int  # offset just past the last complete line: where the next append goes
    lines: int  # complete lines up to `end`, header included
    generation: int | None  # from the header; None when no complete header was read
    torn: int | None  # the line number of an ignored torn last line


def read_journal(path: Path, *, start: int = 0, lines_before: int = 0) -> JournalRead | None:
    """Read the journal from byte `start` (0, or a previous read's `end`); None if absent.

    Reading from 0 checks the header. Raises CACorrupt naming `file:line` for any complete
    line that is not a JSON object with a string `op`.
    """
    try:
        with path.open("rb") as handle:
            inode = os.fstat(handle.fileno()).st_ino
            handle.seek(start)
            data = handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CACorrupt(f"{path}: cannot read the inventory journal: {exc.strerror}") from exc
    cut = data.rfind(b"\n") + 1
    torn = None
    number = lines_before
    if cut < len(data):
        torn = lines_before + data.count(b"\n", 0, cut) + 1
        _log.warning("%s:%d: ignoring a torn last line (a crash interrupted its write, so "
                     "that change never completed)", path, torn)
    generation: int | None = None
    records: list[tuple[int, dict[str, object]]] = []
    for raw in data[:cut].splitlines():
        number += 1
        try:
            record = json.loads(raw)
        except ValueError as exc:
            raise CACorrupt(f"{path}:{number}: not a JSON journal line ({exc})") from exc
        if not isinstance(record, dict) or type(record.get("op")) is not str:
            raise CACorrupt(f"{path}:{number}: a journal line must be an object with an 'op'")
        if number == 1:
            generation = _header(path, record)
        else:
            records.append((number, record))
    if start == 0 and records and generation is None:
        raise CACorrupt(f"{path}:1: the journal header is missing")
    return JournalRead(inode, tuple(records), start + cut, number, generation, torn)


def _header(path: Path, record: dict[str, object]) -> int:
    generation = record.get("generation")
    if (record.get("op") != "journal" or record.get("version") != JOURNAL_VERSION
            or type(generation) is not int):
        raise CACorrupt(f"{path}:1: not a version {JOURNAL_VERSION} zonegate inventory "
                        "journal header")
    return generation


def write_journal(
    path: Path, lines: bytes, *, end: int, generation: int | None
) -> tuple[int, int]:
    """Durably write `lines` (complete JSON lines) at `end`; returns (inode, new end).

    `generation` given: start a fresh journal for that snapshot generation (header first),
    replacing whatever the file held. Otherwise append at `end`, first cutting off anything
    past it (a torn line left by a crashed writer). The caller holds the CA lock. On failure
    the file is cut back to `end` so that no half change stays behind.
    """
    if generation is not None:
        header = {"op": "journal", "version": JOURNAL_VERSION, "generation": generation}
        lines = json.dumps(header).encode() + b"\n" + lines
        end = 0
    created = not path.exists()
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise PKIError(f"cannot append to {path}: {exc.strerror}") from exc
    try:
        status = os.fstat(fd)
        size = status.st_size
        if size > end:
            if generation is None:
                _log.warning("%s: cutting off %d bytes of a torn last line before appending",
                             path, size - end)
            os.ftruncate(fd, end)
        written = 0
        while written < len(lines):
            written += os.pwrite(fd, lines[written:], end + written)
        os.fsync(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):  # best effort: the write error is what matters
            os.ftruncate(fd, end)
        raise PKIError(f"cannot append to {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)
    if created:
        fsync_directory(path.parent)  # the new name must survive a crash too
    return status.st_ino, end + len(lines)
