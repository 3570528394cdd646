"""The store port: what the gateway and control plane may ask of the store.

`gateway.store.Store` (SQLAlchemy; SQLite or PostgreSQL) is the one implementation. Every
method is synchronous and thread-safe; async callers run it with `asyncio.to_thread`.
Every method raises only the `StoreError` tree: `InvalidRecord` for bad input,
`NotFound`, `Conflict`, `StoreUnavailable` when the database cannot answer. A change is
atomic and, except `decisions.record*`, writes a change-audit row in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Protocol

from gateway.store.types import (
    AlertComment,
    AlertFilter,
    AlertGroup,
    AlertRecord,
    AlertStatus,
    AuditRecord,
    CertificateRecord,
    DecisionFilter,
    DecisionRecord,
    DeviceObservation,
    DeviceRecord,
    DeviceTrust,
    Page,
    PolicyActivationRecord,
    PolicyRevisionRecord,
    QuarantinedDevice,
    QuarantineRecord,
    Role,
    Trust,
    UserRecord,
)


class AlertStore(Protocol):
    def ingest(self, alert: Mapping[str, object], by: str = "monitor") -> tuple[str, bool]:
        """Validate and store a contract-5 alert; (id, created). Same alert twice: no-op."""
        ...

    def ingest_many(self, alerts: Iterable[Mapping[str, object]],
                    by: str = "monitor") -> tuple[int, int]:
        """Store a batch atomically after validating all of it; (created, duplicates)."""
        ...

    def get(self, alert_id: str) -> AlertRecord:
        """One alert; NotFound if unknown."""
        ...

    def list(self, flt: AlertFilter | None = None, *, limit: int = 50,
             cursor: str | None = None) -> Page[AlertRecord]:
        """Newest first; keyset pages that stay stable while alerts arrive."""
        ...

    def search(self, text: str, *, limit: int = 50,
               cursor: str | None = None) -> Page[AlertRecord]:
        """Case-insensitive substring search over message, rule name and rule id."""
        ...

    def groups(self, flt: AlertFilter | None = None) -> tuple[AlertGroup, ...]:
        """Counts per (device or source IP, rule)."""
        ...

    def count(self, flt: AlertFilter | None = None) -> int:
        """How many alerts match."""
        ...

    def set_status(self, alert_id: str, status: AlertStatus, by: str) -> AlertRecord:
        """new -> triaged -> resolved | false-positive; closed -> triaged reopens.

        Any other move raises Conflict.
        """
        ...

    def assign(self, alert_id: str, assignee: str | None, by: str) -> AlertRecord:
        """Assign to an analyst, or unassign with None."""
        ...

    def comment(self, alert_id: str, body: str, author: str) -> AlertComment:
        """Append to the alert's triage thread."""
        ...

    def comments(self, alert_id: str) -> tuple[AlertComment, ...]:
        """The triage thread, oldest first."""
        ...

    def purge(self, older_than_days: int, by: str, *,
              dry_run: bool = False) -> tuple[int, datetime]:
        """Retention: delete closed alerts older than that; (count, cutoff)."""
        ...


class DeviceStore(Protocol):
    def upsert(self, observation: DeviceObservation,
               by: str = "monitor") -> tuple[DeviceRecord, bool]:
        """Merge an observation into the inventory; (record, created)."""
        ...

    def get(self, device: str) -> DeviceRecord:
        """One device; NotFound if not inventoried."""
        ...

    def find(self, *, ip: str | None = None, mac: str | None = None) -> tuple[DeviceRecord, ...]:
        """Devices having this IP and/or MAC."""
        ...

    def list(self, *, limit: int = 100, cursor: str | None = None) -> Page[DeviceRecord]:
        """Devices by id, in keyset pages."""
        ...

    def set_trust(self, device: str, trust: DeviceTrust, by: str) -> DeviceRecord:
        """Record an officer's verdict (trusted | unknown)."""
        ...

    def classes(self) -> dict[str, str]:
        """Device id -> device class (the policy input's device.posture.class)."""
        ...


class QuarantineStore(Protocol):
    def quarantine(self, device: str, reason: str, by: str, *, until: datetime | None = None,
                   since: datetime | None = None) -> QuarantineRecord:
        """Cut an inventoried device off from `since` (default now) to `until` or release."""
        ...

    def release(self, device: str, by: str) -> tuple[QuarantineRecord, ...]:
        """End the device's active quarantines; NotFound if none is active."""
        ...

    def history(self, device: str) -> tuple[QuarantineRecord, ...]:
        """Every quarantine of the device, oldest first."""
        ...

    def active(self, now: datetime | None = None) -> tuple[QuarantinedDevice, ...]:
        """Quarantines in force at `now`, with the devices' MAC and IPs."""
        ...

    def snapshot(self, now: datetime | None = None,
                 ) -> tuple[tuple[QuarantinedDevice, ...], tuple[DeviceRecord, ...]]:
        """Active quarantines and trusted devices, read consistently in one transaction."""
        ...


class DecisionStore(Protocol):
    def record(self, decision: DecisionRecord) -> bool:
        """Index a decision; False if its id is already indexed."""
        ...

    def record_many(self, decisions: Iterable[DecisionRecord]) -> int:
        """Index a batch atomically; returns how many were new."""
        ...

    def get(self, decision_id: str) -> DecisionRecord:
        """One decision; NotFound if unknown."""
        ...

    def search(self, flt: DecisionFilter | None = None, *, limit: int = 50,
               cursor: str | None = None) -> Page[DecisionRecord]:
        """Newest first, filtered, keyset pages."""
        ...


class PolicyStore(Protocol):
    def add(self, revision: str, bundle: bytes, uploaded_by: str, *, tests_passed: bool,
            test_results: Mapping[str, object] | None = None) -> PolicyRevisionRecord:
        """Store a bundle under a new revision; Conflict for a known name or bundle."""
        ...

    def get(self, revision: str) -> PolicyRevisionRecord:
        """A revision's metadata."""
        ...

    def bundle(self, revision: str) -> bytes:
        """A revision's bundle, verified against its SHA-256."""
        ...

    def active(self) -> PolicyRevisionRecord | None:
        """The revision in force."""
        ...

    def revisions(self) -> tuple[PolicyRevisionRecord, ...]:
        """Every revision, newest upload first."""
        ...

    def history(self) -> tuple[PolicyActivationRecord, ...]:
        """Activations and rollbacks, newest first."""
        ...

    def activate(self, revision: str, by: str) -> PolicyRevisionRecord:
        """Put a revision whose tests passed in force."""
        ...

    def rollback(self, by: str) -> PolicyRevisionRecord:
        """Return to the revision in force before the current one."""
        ...


class CertificateStore(Protocol):
    def record(self, cert: CertificateRecord, by: str) -> CertificateRecord:
        """Index an issued certificate; Conflict for a known serial."""
        ...

    def revoke(self, number: str | int, reason: str, by: str, *,
               at: datetime | None = None) -> CertificateRecord:
        """Mark revoked with an RFC 5280 reason name; Conflict if already revoked."""
        ...

    def get(self, number: str | int) -> CertificateRecord:
        """One indexed certificate."""
        ...

    def list(self, *, spiffe_id: str | None = None, revoked: bool | None = None,
             valid_at: datetime | None = None) -> tuple[CertificateRecord, ...]:
        """Indexed certificates, newest first."""
        ...


class UserStore(Protocol):
    def add(self, username: str, roles: Iterable[str], by: str, *,
            display_name: str = "") -> UserRecord:
        """Create a user; Conflict if taken, InvalidRecord for an unknown role."""
        ...

    def get(self, username: str) -> UserRecord:
        """One user."""
        ...

    def list(self) -> tuple[UserRecord, ...]:
        """Every user."""
        ...

    def set_roles(self, username: str, roles: Iterable[str], by: str) -> UserRecord:
        """Replace the user's roles."""
        ...

    def set_disabled(self, username: str, disabled: bool, by: str) -> UserRecord:
        """Disable or re-enable an account."""
        ...

    def roles_of(self, username: str) -> tuple[Role, ...]:
        """Roles in effect: none for unknown or disabled users."""
        ...


class AuditLog(Protocol):
    def record(self, actor: str, action: str, target: str,
               details: dict[str, object] | None = None) -> None:
        """Audit a change made outside the store (its own transaction)."""
        ...

    def list(self, *, actor: str | None = None, target: str | None = None,
             action: str | None = None, limit: int = 100,
             cursor: str | None = None) -> Page[AuditRecord]:
        """Change-audit rows, newest first."""
        ...


class StorePort(Protocol):
    """The whole store: repositories plus schema lifecycle."""

    @property
    def alerts(self) -> AlertStore: ...
    @property
    def devices(self) -> DeviceStore: ...
    @property
    def quarantines(self) -> QuarantineStore: ...
    @property
    def decisions(self) -> DecisionStore: ...
    @property
    def policies(self) -> PolicyStore: ...
    @property
    def certificates(self) -> CertificateStore: ...
    @property
    def users(self) -> UserStore: ...
    @property
    def audit(self) -> AuditLog: ...

    def migrate(self, target: str = "head") -> str | None:
        """Bring the schema to `target`; returns the revision now in force."""
        ...

    def check_schema(self) -> None:
        """Raise MigrationError unless the schema is at this code's head revision."""
        ...

    def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers."""
        ...

    def close(self) -> None:
        """Release every pooled connection."""
        ...


class DeviceTrustSource(Protocol):
    """What the gateway asks to fill `input.device.trust` (DESIGN.md contract 3)."""

    def trust_of(self, device_id: str | None = None, ip: str | None = None,
                 mac: str | None = None) -> Trust:
        """'quarantined' if any identifier matches a quarantined device, 'trusted' if the
        device id is marked trusted, else 'unknown'. Raises TrustUnavailable (fail closed)
        before the first snapshot has been loaded."""
        ...

    @property
    def stale_since(self) -> datetime | None:
        """When refreshing started to fail (None while the snapshot is fresh)."""
        ...
