"""The inventory of issued certificates: `inventory.json` plus its journal.

`inventory.json` is a snapshot (one certificate per line); every later change is one JSON
line appended and fsynced to `inventory.journal.jsonl` (pki.journal). Loading reads the
snapshot and replays the journal. Once the journal holds as many changes as the snapshot
holds entries (at least COMPACT_MIN_RECORDS), `save` compacts: the snapshot is rewritten
atomically with the next generation number, then the journal is removed. A crash between
the two leaves a journal of the previous generation, which is already in the snapshot and
is ignored. So a change costs one append and one fsync, and the O(entries) rewrite happens
once per at least as many changes: O(1) amortised.

Callers hold the CA lock (`pki.durable.ca_lock`) across load (or `refresh`), change and
save. A long-lived holder keeps its Inventory and calls `refresh` under the lock: that reads
only the journal lines appended since, unless another process compacted in between.
"""

from __future__ import annotations

import heapq
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import get_args

from pki.durable import append_durably, atomic_write
from pki.entry import InventoryEntry, RevocationReason, Status
from pki.errors import AlreadyRevoked, CACorrupt, PKIError, SerialNotFound
from pki.journal import JOURNAL_NAME, read_journal, write_journal
from pki.units import format_serial

__all__ = [
    "ARCHIVE_NAME", "COMPACT_MIN_RECORDS", "INVENTORY_NAME", "JOURNAL_NAME", "Inventory",
    "InventoryEntry", "RevocationReason", "Status",
]

INVENTORY_NAME = "inventory.json"
ARCHIVE_NAME = "inventory-archive.jsonl"
# Version 1 (no generation, no journal) is read; the first save rewrites it as version 2 so
# that an older zonegate refuses the directory instead of silently ignoring the journal.
_VERSION = 2
_READABLE = (1, 2)
COMPACT_MIN_RECORDS = 1024
_READ_ATTEMPTS = 5
# (st_dev, st_ino, st_size, st_mtime_ns): the snapshot is only ever replaced by rename
_Identity = tuple[int, int, int, int]
_REASONS = frozenset(get_args(RevocationReason))


@dataclass(slots=True)
class _JournalState:
    """Where this inventory stands in the current generation's journal."""

    inode: int
    end: int
    lines: int


class Inventory:
    """Every certificate the CA issued, and the CRL counter."""

    __slots__ = ("_entries", "_expiry", "_journal", "_pending", "_pending_weight", "_revoked",
                 "_snapshot", "_snapshot_size", "_upgrade", "_weight", "crl_number",
                 "generation", "path", "torn")

    def __init__(self, path: Path, entries: Iterable[InventoryEntry] = (),
                 crl_number: int = 0) -> None:
        self.path = path
        self._reset()
        self.crl_number = crl_number
        for entry in entries:
            self._insert(entry)
        heapq.heapify(self._expiry)

    def _reset(self) -> None:
        self.crl_number = 0
        self.generation = 0  # of the snapshot; version 1 files are generation 0
        self.torn: str | None = None  # `file:line` of an ignored torn journal line
        self._entries: dict[str, InventoryEntry] = {}
        self._revoked: dict[str, None] = {}
        self._expiry: list[tuple[datetime, str]] = []  # heap of (not_after, serial)
        self._pending: list[dict[str, object]] = []
        self._pending_weight = 0
        self._weight = 0  # changes in the journal: compaction is due when it passes the size
        self._snapshot: _Identity | None = None
        self._snapshot_size = 0  # entries in the snapshot: the journal may grow as large
        self._journal: _JournalState | None = None  # None: no journal of this generation
        self._upgrade = True  # no current-version snapshot yet: the next save compacts

    @property
    def journal_path(self) -> Path:
        """`inventory.journal.jsonl` beside the snapshot."""
        return self.path.parent / JOURNAL_NAME

    @property
    def entries(self) -> list[InventoryEntry]:
        """The live entries, oldest first."""
        return list(self._entries.values())

    # -- reading -------------------------------------------------------------------------

    @classmethod
    def load(cls, directory: Path) -> Inventory:
        """Read snapshot and journal (an empty inventory if neither exists yet).

        Safe without the lock: a compaction during the read is detected and read again.
        Raises CACorrupt naming the file (and line, for the journal).
        """
        inventory = cls(directory / INVENTORY_NAME)
        inventory._reload()
        return inventory

    def refresh(self) -> None:
        """Catch up with changes saved by others since the last load, refresh or save.

        The caller holds the CA lock. Reads only the journal lines appended since, unless
        the snapshot was replaced (another process compacted): then everything is reread.
        """
        self._pending.clear()
        self._pending_weight = 0
        if _identity(self.path) == self._snapshot:
            state = self._journal
            if state is None:
                if not self.journal_path.exists():
                    return
            else:
                read = read_journal(self.journal_path, start=state.end, lines_before=state.lines)
                if read is not None and read.inode == state.inode:
                    self._replay(read.records)
                    state.end, state.lines = read.end, read.lines
                    self.torn = None if read.torn is None else f"{self.journal_path}:{read.torn}"
                    return
        self._reload()

    def _reload(self) -> None:
        for _ in range(_READ_ATTEMPTS):
            self._reset()
            self._read_snapshot()
            read = read_journal(self.journal_path)
            if _identity(self.path) != self._snapshot:
                continue  # compacted while we read: read the new generation
            if read is None or read.generation is None or read.generation < self.generation:
                pass  # none yet, or one already folded into the snapshot by a compaction
            elif read.generation > self.generation:
                raise CACorrupt(
                    f"{self.journal_path}: the journal continues generation "
                    f"{read.generation} but {self.path} is generation {self.generation} "
                    "(was the snapshot replaced by an older copy?)"
                )
            else:
                self._replay(read.records)
                self._journal = _JournalState(read.inode, read.end, read.lines)
            if read is not None and read.torn is not None:
                self.torn = f"{self.journal_path}:{read.torn}"
            return
        raise CACorrupt(f"{self.path}: the inventory kept changing while it was read")

    def _read_snapshot(self) -> None:
        path = self.path
        try:
            with path.open("rb") as handle:
                self._snapshot = _status_identity(os.fstat(handle.fileno()))
                data = json.loads(handle.read())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise CACorrupt(f"{path}: cannot read the inventory: {exc}") from exc
        if not isinstance(data, dict) or data.get("version") not in _READABLE:
            raise CACorrupt(f"{path}: not a version {_VERSION} zonegate inventory")
        raw = data.get("certificates")
        crl_number = data.get("crl_number", 0)
        generation = data.get("generation", 0)
        if (not isinstance(raw, list) or type(crl_number) is not int
                or type(generation) is not int):
            raise CACorrupt(f"{path}: 'certificates' must be a list, 'crl_number' and "
                            "'generation' integers")
        for item in raw:
            entry = InventoryEntry.from_dict(item, str(path))
            if entry.serial in self._entries:
                raise CACorrupt(f"{path}: serial {entry.serial} is listed twice")
            self._insert(entry)
        heapq.heapify(self._expiry)
        self.crl_number, self.generation = crl_number, generation
        self._snapshot_size = len(raw)
        self._upgrade = data["version"] != _VERSION

    def _replay(self, records: Sequence[tuple[int, dict[str, object]]]) -> None:
        for number, record in records:
            where = f"{self.journal_path}:{number}"
            op = record["op"]
            if op == "add":
                entry = InventoryEntry.from_dict(record.get("entry"), where)
                if entry.serial in self._entries:
                    raise CACorrupt(f"{where}: serial {entry.serial} is added twice")
                self._insert(entry, push=True)
                self._weight += 1
            elif op == "revoke":
                serial, when, reason = (record.get(k) for k in ("serial", "revoked_at", "reason"))
                if type(when) is not str or reason not in _REASONS:
                    raise CACorrupt(f"{where}: a revoke line needs 'revoked_at' and an RFC 5280 "
                                    "'reason'")
                self._mark_revoked(self._live(serial, where), when, str(reason), where)
                self._weight += 1
            elif op == "prune":
                serials = record.get("serials")
                if type(serials) is not list:
                    raise CACorrupt(f"{where}: a prune line needs a 'serials' list")
                for serial in serials:
                    self._remove(self._live(serial, where).serial)
                self._weight += len(serials)
            elif op == "crl":
                crl_number = record.get("crl_number")
                if type(crl_number) is not int:
                    raise CACorrupt(f"{where}: a crl line needs an integer 'crl_number'")
                self.crl_number = crl_number
                self._weight += 1
            else:
                raise CACorrupt(f"{where}: unknown journal operation {op!r}")

    def _live(self, serial: object, where: str) -> InventoryEntry:
        entry = self._entries.get(serial) if type(serial) is str else None
        if entry is None:
            raise CACorrupt(f"{where}: serial {serial!r} is not in the inventory")
        return entry

    # -- changing ------------------------------------------------------------------------

    def _insert(self, entry: InventoryEntry, *, push: bool = False) -> None:
        """Index an entry; without `push` the caller heapifies the expiry heap afterwards."""
        self._entries[entry.serial] = entry
        if entry.revoked_at is not None:
            self._revoked[entry.serial] = None
        item = (datetime.fromisoformat(entry.not_after), entry.serial)
        if push:
            heapq.heappush(self._expiry, item)
        else:
            self._expiry.append(item)

    def _remove(self, serial: str) -> None:
        del self._entries[serial]  # its expiry heap item is skipped when it comes up
        self._revoked.pop(serial, None)

    def _mark_revoked(self, entry: InventoryEntry, when: str, reason: str,
                      where: str) -> InventoryEntry:
        if entry.revoked_at is not None:
            raise AlreadyRevoked(
                f"certificate {entry.serial} ({entry.spiffe_id}) was already revoked at "
                f"{entry.revoked_at}" + (f" ({where})" if where else "")
            )
        updated = replace(entry, revoked_at=when, revocation_reason=reason)
        self._entries[entry.serial] = updated
        self._revoked[entry.serial] = None
        return updated

    def _record(self, weight: int, **change: object) -> None:
        self._pending.append(change)
        self._pending_weight += weight

    def find(self, serial: int) -> InventoryEntry:
        """The entry with that serial; raises SerialNotFound."""
        text = format_serial(serial)
        entry = self._entries.get(text)
        if entry is None:
            raise SerialNotFound(f"no certificate with serial {text} in {self.path}")
        return entry

    def add(self, entry: InventoryEntry) -> None:
        """Add a newly issued certificate (durable once `save` returns)."""
        if entry.serial in self._entries:
            raise PKIError(f"serial {entry.serial} is already in {self.path}")
        self._insert(entry, push=True)
        self._record(1, op="add", entry=entry.to_dict())

    def revoke(self, serial: int, reason: RevocationReason, when: datetime) -> InventoryEntry:
        """Mark a certificate revoked; raises SerialNotFound or AlreadyRevoked."""
        updated = self._mark_revoked(self.find(serial), when.isoformat(), reason, "")
        self._record(1, op="revoke", serial=updated.serial, revoked_at=updated.revoked_at,
                     reason=reason)
        return updated

    def set_crl_number(self, number: int) -> None:
        """Record the number of the CRL about to be published."""
        self.crl_number = number
        self._record(1, op="crl", crl_number=number)

    def prune(self, cutoff: datetime) -> int:
        """Move entries that expired before `cutoff` to the append-only archive.

        The archive is appended and fsynced before the caller saves the removal, so a crash
        in between can only duplicate archive lines, never lose an entry. Costs O(moved):
        the entries are found through a heap ordered by expiry. Returns how many moved.
        """
        popped: list[tuple[datetime, str]] = []
        old: list[InventoryEntry] = []
        while self._expiry and self._expiry[0][0] < cutoff:
            item = heapq.heappop(self._expiry)
            popped.append(item)
            entry = self._entries.get(item[1])
            if entry is not None and datetime.fromisoformat(entry.not_after) == item[0]:
                old.append(entry)
        if not old:
            return 0
        lines = "".join(json.dumps(entry.to_dict()) + "\n" for entry in old).encode()
        try:
            append_durably(self.path.parent / ARCHIVE_NAME, lines)
        except BaseException:
            for item in popped:
                heapq.heappush(self._expiry, item)
            raise
        for entry in old:
            self._remove(entry.serial)
        self._record(len(old), op="prune", serials=[entry.serial for entry in old])
        return len(old)

    # -- saving --------------------------------------------------------------------------

    def save(self) -> None:
        """Make the changes since the last load, refresh or save durable.

        The caller holds the CA lock. One journal append and one fsync; a compaction
        instead once the journal outgrew the snapshot, and on the first save of a directory
        without a version 2 snapshot. After a failed save, load again.
        """
        due = max(COMPACT_MIN_RECORDS, self._snapshot_size)
        if self._upgrade or self._weight + self._pending_weight >= due:
            self.compact()
            return
        if not self._pending:
            return
        lines = "".join(json.dumps(change) + "\n" for change in self._pending).encode()
        state = self._journal
        if state is None:  # none of this generation yet: start one (replacing a stale one)
            inode, end = write_journal(self.journal_path, lines, end=0,
                                       generation=self.generation)
            self._journal = _JournalState(inode, end, len(self._pending) + 1)
        else:
            inode, state.end = write_journal(self.journal_path, lines, end=state.end,
                                             generation=None)
            state.lines += len(self._pending)
        self._weight += self._pending_weight
        self._pending.clear()
        self._pending_weight = 0
        self.torn = None  # write_journal cut it off

    def compact(self) -> None:
        """Rewrite the snapshot as the next generation with every change in it; drop the journal.

        A crash after the rename leaves the previous generation's journal, which load
        ignores: its changes are in the new snapshot.
        """
        generation = self.generation + 1
        # One entry per line: readable and diffable, and json's C encoder (which `indent`
        # would switch off) keeps a rewrite of thousands of entries in milliseconds.
        head = (f'{{"version": {_VERSION}, "generation": {generation}, '
                f'"crl_number": {self.crl_number}, "certificates": [')
        lines = ",\n".join(json.dumps(entry.to_dict()) for entry in self._entries.values())
        text = f"{head}\n{lines}\n]}}\n" if lines else f"{head}]}}\n"
        atomic_write(self.path, text.encode(), mode=0o644)
        self.generation, self._upgrade = generation, False
        self._snapshot = _identity(self.path)
        self._snapshot_size = len(self._entries)
        self._pending.clear()
        self._pending_weight = self._weight = 0
        self._journal = None
        self.journal_path.unlink(missing_ok=True)  # no fsync needed: a stale one is ignored
        self.torn = None

    # -- queries -------------------------------------------------------------------------

    def archived(self) -> list[InventoryEntry]:
        """Entries moved to the archive, oldest first, without duplicates.

        A line torn by a crash during an append is skipped: its entry was still live then,
        and is appended again by the next prune.
        """
        path = self.path.parent / ARCHIVE_NAME
        if not path.exists():
            return []
        seen: dict[str, InventoryEntry] = {}
        for line in path.read_bytes().splitlines():
            try:
                data = json.loads(line)
            except ValueError:
                continue
            entry = InventoryEntry.from_dict(data, str(path))
            seen.setdefault(entry.serial, entry)
        return list(seen.values())

    def revoked(self) -> list[InventoryEntry]:
        """Every revoked live entry (all go on the CRL; expired ones too, they are few)."""
        return [self._entries[serial] for serial in self._revoked]


def _status_identity(status: os.stat_result) -> _Identity:
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)


def _identity(path: Path) -> _Identity | None:
    try:
        return _status_identity(path.stat())
    except FileNotFoundError:
        return None
