"""The records the store hands out: frozen dataclasses, never ORM objects.

Times are aware datetimes in UTC. A record is a snapshot: changing the store does not
change a record already returned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Literal, TypeVar

AlertStatus = Literal["new", "triaged", "resolved", "false-positive"]
DeviceTrust = Literal["trusted", "unknown"]
Trust = Literal["trusted", "unknown", "quarantined"]
Role = Literal["soc-analyst", "security-officer", "admin"]

ALERT_STATUSES: tuple[AlertStatus, ...] = ("new", "triaged", "resolved", "false-positive")
ROLES: tuple[Role, ...] = ("soc-analyst", "security-officer", "admin")
# status -> statuses it may move to; a closed alert can only be reopened for triage
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"triaged"}),
    "triaged": frozenset({"resolved", "false-positive"}),
    "resolved": frozenset({"triaged"}),
    "false-positive": frozenset({"triaged"}),
}

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of results; pass `next_cursor` back for the next page (None: no more)."""

    items: tuple[T, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class AlertComment:
    id: int
    alert_id: str
    author: str
    at: datetime
    body: str


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """A stored alert: the contract-5 document plus its triage state."""

    id: str
    timestamp: datetime
    rule_id: str
    rule_name: str
    severity: int
    source_ip: str | None
    source_mac: str | None
    destination_ip: str | None
    destination_port: int | None
    device_id: str | None
    group_key: str  # device.id if the alert names one, else source.ip
    message: str
    status: AlertStatus
    assignee: str | None
    ingested_at: datetime
    updated_at: datetime
    document: dict[str, object]


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Every field given narrows the result; `text` matches message and rule name."""

    status: tuple[AlertStatus, ...] = ()
    rule_id: str | None = None
    group_key: str | None = None
    min_severity: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    assignee: str | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class AlertGroup:
    """Alerts of one rule on one device (or source IP)."""

    group_key: str
    rule_id: str
    count: int
    open_count: int  # new or triaged
    max_severity: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class DeviceObservation:
    """What an inventory source saw of a device; `upsert` merges it into the record."""

    id: str
    seen_at: datetime
    mac: str | None = None
    ips: tuple[str, ...] = ()
    vendor: str | None = None
    hostname: str | None = None
    device_class: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    id: str
    mac: str | None
    ips: tuple[str, ...]
    vendor: str | None
    hostname: str | None
    device_class: str | None
    first_seen: datetime
    last_seen: datetime
    trust: DeviceTrust


@dataclass(frozen=True, slots=True)
class QuarantineRecord:
    id: int
    device_id: str
    reason: str
    by: str
    since: datetime
    until: datetime | None
    released_at: datetime | None
    released_by: str | None

    def active_at(self, now: datetime) -> bool:
        """In force at `now`: started, not expired, not released."""
        return (
            self.released_at is None
            and self.since <= now
            and (self.until is None or now < self.until)
        )


@dataclass(frozen=True, slots=True)
class QuarantinedDevice:
    """An active quarantine joined with the addresses the gateway may see the device by."""

    quarantine_id: int
    device_id: str
    mac: str | None
    ips: tuple[str, ...]
    reason: str
    until: datetime | None


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    decision_id: str
    time: datetime
    subject: str
    device: str | None
    zone: str | None
    method: str
    path: str
    allow: bool
    reasons: tuple[str, ...] = ()
    level: str | None = None  # the zone's level (input.resource.level)
    revision: str | None = None  # the policy revision that decided
    # the policy input, masked as the decision log masks it; None for decisions indexed
    # without one (then replay and shadow can only rebuild an approximate input)
    input: dict[str, object] | None = None


@dataclass(frozen=True, slots=True)
class DecisionFilter:
    subject: str | None = None
    device: str | None = None
    zone: str | None = None
    allow: bool | None = None
    reason: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    path_prefix: str | None = None


@dataclass(frozen=True, slots=True)
class PolicyRevisionRecord:
    revision: str
    uploaded_by: str
    uploaded_at: datetime
    sha256: str
    size: int
    tests_passed: bool
    test_results: dict[str, object]
    active: bool


@dataclass(frozen=True, slots=True)
class PolicyActivationRecord:
    revision: str
    at: datetime
    by: str
    kind: Literal["activate", "rollback"]


@dataclass(frozen=True, slots=True)
class CertificateRecord:
    serial: str  # lower-case hex, no separators
    spiffe_id: str
    not_before: datetime
    not_after: datetime
    fingerprint: str | None = None  # sha256:<hex>
    issued_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revocation_reason: str | None = None


@dataclass(frozen=True, slots=True)
class UserRecord:
    username: str
    display_name: str
    roles: tuple[Role, ...]
    disabled: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, object] = field(default_factory=dict)
