"""The inventory of issued certificates, `<dir>/inventory.json`.

Callers hold the CA lock (`pki.durable.ca_lock`) across load, change and save; `save`
writes atomically, so a crash keeps either the old or the new inventory whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pki.durable import append_durably, atomic_write
from pki.errors import AlreadyRevoked, CACorrupt, SerialNotFound
from pki.units import format_serial

__all__ = [
    "ARCHIVE_NAME", "INVENTORY_NAME", "Inventory", "InventoryEntry", "RevocationReason", "Status",
]

INVENTORY_NAME = "inventory.json"
ARCHIVE_NAME = "inventory-archive.jsonl"
_VERSION = 1
Status = Literal["valid", "expired", "revoked"]
# RFC 5280 CRLReason names (x509.ReasonFlags values) that an operator may give.
RevocationReason = Literal[
    "unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
    "cessationOfOperation", "certificateHold", "privilegeWithdrawn",
]


_TEXT = ("serial", "spiffe_id", "zone", "kind", "name", "not_before", "not_after",
         "fingerprint", "issued_at", "source")
_OPTIONAL = ("renewed_from", "revoked_at", "revocation_reason")
_LISTS = ("usages", "dns", "ips")


@dataclass(frozen=True, slots=True)
class InventoryEntry:
    """One issued certificate."""

    serial: str
    spiffe_id: str
    zone: str
    kind: str
    name: str
    usages: tuple[str, ...]
    dns: tuple[str, ...]
    ips: tuple[str, ...]
    not_before: str
    not_after: str
    fingerprint: str
    issued_at: str
    source: str
    renewed_from: str | None = None
    revoked_at: str | None = None
    revocation_reason: str | None = None

    def status(self, now: datetime | None = None) -> Status:
        """`revoked`, `expired` or `valid` at `now` (default: the current time)."""
        if self.revoked_at is not None:
            return "revoked"
        moment = now or datetime.now(UTC)
        if datetime.fromisoformat(self.not_after) < moment:
            return "expired"
        return "valid"

    def to_dict(self) -> dict[str, object]:
        """The JSON object stored and printed by `list --format json`."""
        # by hand: dataclasses.asdict deep-copies and dominated the inventory rewrite
        return {
            "serial": self.serial, "spiffe_id": self.spiffe_id, "zone": self.zone,
            "kind": self.kind, "name": self.name, "usages": list(self.usages),
            "dns": list(self.dns), "ips": list(self.ips), "not_before": self.not_before,
            "not_after": self.not_after, "fingerprint": self.fingerprint,
            "issued_at": self.issued_at, "source": self.source,
            "renewed_from": self.renewed_from, "revoked_at": self.revoked_at,
            "revocation_reason": self.revocation_reason,
        }

    @classmethod
    def from_dict(cls, data: object, where: str) -> InventoryEntry:
        """Validate one stored entry; raises CACorrupt naming it."""
        if not isinstance(data, dict):
            raise CACorrupt(f"{where}: an entry is not an object")
        for name in _TEXT:
            if type(data.get(name)) is not str:
                raise CACorrupt(f"{where}: entry {data.get('serial')!r} has a bad {name!r}")
        for name in _OPTIONAL:
            value = data.get(name)
            if value is not None and type(value) is not str:
                raise CACorrupt(f"{where}: entry {data.get('serial')!r} has a bad {name!r}")
        fields: dict[str, Any] = {name: data.get(name) for name in (*_TEXT, *_OPTIONAL)}
        for name in _LISTS:
            value = data.get(name)
            if type(value) is not list or not all(type(v) is str for v in value):
                raise CACorrupt(f"{where}: entry {data.get('serial')!r} has a bad {name!r}")
            fields[name] = tuple(value)
        return cls(**fields)


@dataclass(slots=True)
class Inventory:
    """Every certificate the CA issued, and the CRL counter."""

    path: Path
    entries: list[InventoryEntry] = field(default_factory=list)
    crl_number: int = 0

    @classmethod
    def load(cls, directory: Path) -> Inventory:
        """Read the inventory (an empty one if the file does not exist yet)."""
        path = directory / INVENTORY_NAME
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise CACorrupt(f"{path}: cannot read the inventory: {exc}") from exc
        if not isinstance(data, dict) or data.get("version") != _VERSION:
            raise CACorrupt(f"{path}: not a version {_VERSION} zonegate inventory")
        raw = data.get("certificates")
        crl_number = data.get("crl_number", 0)
        if not isinstance(raw, list) or not isinstance(crl_number, int):
            raise CACorrupt(f"{path}: 'certificates' must be a list, 'crl_number' an integer")
        entries = [InventoryEntry.from_dict(item, str(path)) for item in raw]
        return cls(path, entries, crl_number)

    def save(self) -> None:
        """Write the inventory atomically (temp file, fsync, rename, fsync directory)."""
        # One entry per line: readable and diffable, and json's C encoder (which `indent`
        # would switch off) keeps a rewrite of thousands of entries in milliseconds.
        head = f'{{"version": {_VERSION}, "crl_number": {self.crl_number}, "certificates": ['
        lines = ",\n".join(json.dumps(entry.to_dict()) for entry in self.entries)
        text = f"{head}\n{lines}\n]}}\n" if lines else f"{head}]}}\n"
        atomic_write(self.path, text.encode(), mode=0o644)

    def find(self, serial: int) -> InventoryEntry:
        """The entry with that serial; raises SerialNotFound."""
        text = format_serial(serial)
        for entry in self.entries:
            if entry.serial == text:
                return entry
        raise SerialNotFound(f"no certificate with serial {text} in {self.path}")

    def add(self, entry: InventoryEntry) -> None:
        """Append a newly issued certificate."""
        self.entries.append(entry)

    def revoke(self, serial: int, reason: RevocationReason, when: datetime) -> InventoryEntry:
        """Mark a certificate revoked; raises SerialNotFound or AlreadyRevoked."""
        entry = self.find(serial)
        if entry.revoked_at is not None:
            raise AlreadyRevoked(
                f"certificate {entry.serial} ({entry.spiffe_id}) was already revoked at "
                f"{entry.revoked_at}"
            )
        updated = replace(entry, revoked_at=when.isoformat(), revocation_reason=reason)
        self.entries[self.entries.index(entry)] = updated
        return updated

    def prune(self, cutoff: datetime) -> int:
        """Move entries that expired before `cutoff` to the append-only archive.

        The archive is appended and fsynced before the caller saves the smaller
        inventory, so a crash in between can only duplicate archive lines, never lose an
        entry. Returns how many entries moved.
        """
        old = [e for e in self.entries if datetime.fromisoformat(e.not_after) < cutoff]
        if not old:
            return 0
        lines = "".join(json.dumps(entry.to_dict()) + "\n" for entry in old).encode()
        append_durably(self.path.parent / ARCHIVE_NAME, lines)
        moved = {entry.serial for entry in old}
        self.entries = [e for e in self.entries if e.serial not in moved]
        return len(old)

    def archived(self) -> list[InventoryEntry]:
        """Entries moved to the archive, oldest first, without duplicates.

        A line torn by a crash during an append is skipped: its entry was still in
        inventory.json then, and is appended again by the next prune.
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
        """Every revoked entry (all go on the CRL; expired ones too, they are few)."""
        return [entry for entry in self.entries if entry.revoked_at is not None]
