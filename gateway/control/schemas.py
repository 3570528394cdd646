"""Request and response bodies of the API (pydantic; the OpenAPI document is built from them).

Responses are read straight from the store's frozen records (`from_attributes`). Request
bodies forbid unknown keys, so a misspelt field is a 422, not a silent default.
"""

from __future__ import annotations

from datetime import datetime
from typing import Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gateway.store.types import AlertStatus, DeviceTrust, Trust
from pki.inventory import RevocationReason

T = TypeVar("T")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PageOut(_Out, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="pass back as ?cursor= for the next page")


class AlertOut(_Out):
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
    group_key: str
    message: str
    status: AlertStatus
    assignee: str | None
    ingested_at: datetime
    updated_at: datetime
    document: dict[str, object]


class AutoQuarantinedOut(_Out):
    alert_id: str
    rule_id: str
    device_id: str
    quarantine_id: int
    until: datetime | None
    device_created: bool = Field(description="added to the inventory for this quarantine")


class IngestOut(_Out):
    id: str
    created: bool
    quarantined: list[AutoQuarantinedOut] | None = Field(
        default=None, description="devices this request quarantined "
        "(control.auto_quarantine); absent when that is off")


class BatchOut(_Out):
    created: int
    duplicates: int
    quarantined: list[AutoQuarantinedOut] | None = Field(
        default=None, description="devices this request quarantined "
        "(control.auto_quarantine); absent when that is off")


class CommentOut(_Out):
    id: int
    alert_id: str
    author: str
    at: datetime
    body: str


class GroupOut(_Out):
    group_key: str
    rule_id: str
    count: int
    open_count: int
    max_severity: int
    first_seen: datetime
    last_seen: datetime


class AssignIn(_In):
    assignee: str | None = Field(max_length=128, description="null unassigns")


class StatusIn(_In):
    status: AlertStatus


class CommentIn(_In):
    body: str = Field(min_length=1, max_length=10_000)


class DeviceOut(_Out):
    id: str
    mac: str | None
    ips: list[str]
    vendor: str | None
    hostname: str | None
    device_class: str | None
    first_seen: datetime
    last_seen: datetime
    trust: DeviceTrust


class QuarantineOut(_Out):
    id: int
    device_id: str
    reason: str
    by: str
    since: datetime
    until: datetime | None
    released_at: datetime | None
    released_by: str | None


class ActiveQuarantineOut(_Out):
    quarantine_id: int
    device_id: str
    mac: str | None
    ips: list[str]
    reason: str
    until: datetime | None


class CertificateOut(_Out):
    serial: str
    spiffe_id: str
    not_before: datetime
    not_after: datetime
    fingerprint: str | None
    issued_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    revocation_reason: str | None
    status: Literal["valid", "expired", "revoked", "not-yet-valid"] = "valid"


class DeviceDetailOut(_Out):
    device: DeviceOut
    effective_trust: Trust
    quarantines: list[QuarantineOut]
    certificates: list[CertificateOut]


class QuarantineIn(_In):
    reason: str = Field(min_length=1, max_length=2000)
    until: AwareDatetime | None = Field(default=None, description="end of the quarantine")
    duration_seconds: int | None = Field(default=None, ge=60, le=366 * 86400,
                                         description="instead of until")


class TrustIn(_In):
    trust: DeviceTrust


class CertificateIn(_In):
    csr: str = Field(min_length=1, max_length=64 * 1024, description="PEM CSR (P-256)")
    zone: str = Field(min_length=1, max_length=63)
    lifetime_seconds: int | None = Field(default=None, ge=60, le=366 * 86400)


class IssuedOut(_Out):
    certificate: CertificateOut
    certificate_pem: str
    chain_pem: str


class RevokeIn(_In):
    reason: RevocationReason = "unspecified"


class DecisionOut(_Out):
    decision_id: str
    time: datetime
    subject: str
    device: str | None
    zone: str | None
    method: str
    path: str
    allow: bool
    reasons: list[str]
    level: str | None
    revision: str | None = None  # the policy revision that decided (None: not recorded)


class PolicyRevisionOut(_Out):
    revision: str
    uploaded_by: str
    uploaded_at: datetime
    sha256: str
    size: int
    tests_passed: bool
    test_results: dict[str, object]
    active: bool


class ActivationOut(_Out):
    revision: str
    at: datetime
    by: str
    kind: str


class PolicyFilesIn(_In):
    files: dict[str, str] = Field(description="path relative to the bundle root -> content",
                                  min_length=1, max_length=2000)
    revision: str | None = Field(default=None, max_length=128)
    activate: bool = True


class PolicyDiffOut(_Out):
    revision: str
    against: str
    added: list[str]
    removed: list[str]
    changed: dict[str, str] = Field(description="file -> unified diff")


class AuditOut(_Out):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, object]


class AuditCheckpointsOut(_Out):
    sources: list[str] = Field(description="where checkpoints were read: the file beside "
                               "the log when there is one, and the store")
    read: int
    matched: int = Field(description="checkpoints of this chain, every one found in the log")
    latest_seq: int | None = Field(description="the highest record a checkpoint vouches for")
    latest_time: str | None
    unanchored: int = Field(description="records after the latest checkpoint: a cut there "
                            "cannot be detected yet")


class AuditVerifyOut(_Out):
    path: str
    intact: bool
    records: int
    head: str | None
    recoveries: int
    torn_tail: bool
    problem: str | None = Field(default=None, description="where the chain breaks, or the "
                                "checkpoint that saw records the log no longer holds")
    checkpoints: AuditCheckpointsOut | None = None


class MeOut(_Out):
    actor: str
    kind: str
    subject: str
    roles: list[str]
    spiffe_id: str


class RetentionIn(_In):
    older_than_days: int = Field(ge=1, le=36_500,
                                 description="closed alerts older than this are deleted")
    dry_run: bool = Field(default=False, description="count, delete nothing")


class RetentionOut(_Out):
    deleted: int = Field(description="alerts deleted (or, with dry_run, that would be)")
    cutoff: datetime
    dry_run: bool
