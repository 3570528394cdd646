"""One entry of the inventory: a certificate the CA issued, as stored and listed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pki.errors import CACorrupt

__all__ = ["InventoryEntry", "RevocationReason", "Status"]

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
