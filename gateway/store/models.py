"""The ORM models: one table per record kind, typed with `Mapped[...]`.

The schema itself is owned by the alembic migrations in `gateway/store/migrations/`; a test
checks that migrating an empty database to head yields exactly these models.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gateway.store._columns import UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Alert(Base):
    """A contract-5 ECS alert with its triage state."""

    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime())
    rule_id: Mapped[str] = mapped_column(String(64))
    rule_name: Mapped[str] = mapped_column(String(256), default="")
    severity: Mapped[int] = mapped_column(Integer)
    source_ip: Mapped[str | None] = mapped_column(String(45))
    source_mac: Mapped[str | None] = mapped_column(String(17))
    destination_ip: Mapped[str | None] = mapped_column(String(45))
    destination_port: Mapped[int | None] = mapped_column(Integer)
    device_id: Mapped[str | None] = mapped_column(String(128))
    group_key: Mapped[str] = mapped_column(String(128))
    message: Mapped[str] = mapped_column(Text, default="")
    document: Mapped[dict[str, object]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="new")
    assignee: Mapped[str | None] = mapped_column(String(128))
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index(None, "timestamp", "id"),
        Index(None, "group_key", "rule_id"),
        Index(None, "status"),
    )


class AlertComment(Base):
    __tablename__ = "alert_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"),
                                          index=True)
    author: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    body: Mapped[str] = mapped_column(Text)


class Device(Base):
    """An inventoried terminal; `trust` is the officer's verdict, quarantine overrides it."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    mac: Mapped[str | None] = mapped_column(String(17), index=True)
    vendor: Mapped[str | None] = mapped_column(String(128))
    hostname: Mapped[str | None] = mapped_column(String(255))
    device_class: Mapped[str | None] = mapped_column(String(64))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    trust: Mapped[str] = mapped_column(String(16), default="unknown")


class DeviceIP(Base):
    __tablename__ = "device_ips"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"),
                                           primary_key=True)
    ip: Mapped[str] = mapped_column(String(45), primary_key=True, index=True)


class Quarantine(Base):
    """A device cut off by a person or a rule, from `since` until `until` or release."""

    __tablename__ = "quarantines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    quarantined_by: Mapped[str] = mapped_column(String(128))
    since: Mapped[datetime] = mapped_column(UTCDateTime())
    until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    released_by: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (Index(None, "released_at", "until"),)


class DecisionEntry(Base):
    """One line of the decision index (the full event lives in the decision log)."""

    __tablename__ = "decisions"

    decision_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime())
    subject: Mapped[str] = mapped_column(String(256), default="")
    device: Mapped[str | None] = mapped_column(String(128))
    zone: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(Text)
    allow: Mapped[bool] = mapped_column(Boolean)
    reasons: Mapped[list[str]] = mapped_column(JSON)
    level: Mapped[str | None] = mapped_column(String(2))
    revision: Mapped[str | None] = mapped_column(String(128))  # the policy that decided
    input: Mapped[dict[str, object] | None] = mapped_column(JSON)  # masked policy input

    __table_args__ = (
        Index(None, "time", "decision_id"),
        Index(None, "subject", "time"),
        Index(None, "device", "time"),
        Index(None, "zone", "time"),
    )


class PolicyRevision(Base):
    __tablename__ = "policy_revisions"

    revision: Mapped[str] = mapped_column(String(128), primary_key=True)
    uploaded_by: Mapped[str] = mapped_column(String(128))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    bundle: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    tests_passed: Mapped[bool] = mapped_column(Boolean)
    test_results: Mapped[dict[str, object]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        # at most one active revision, enforced by the database itself
        Index("uq_policy_revisions_one_active", "active", unique=True,
              sqlite_where=text("active"), postgresql_where=text("active")),
    )


class PolicyActivation(Base):
    """The activation history, newest last; rollback walks it backwards."""

    __tablename__ = "policy_activations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    revision: Mapped[str] = mapped_column(ForeignKey("policy_revisions.revision"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    by: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # activate | rollback


class Certificate(Base):
    __tablename__ = "certificates"

    serial: Mapped[str] = mapped_column(String(64), primary_key=True)
    spiffe_id: Mapped[str] = mapped_column(String(2048), index=True)
    fingerprint: Mapped[str | None] = mapped_column(String(71), unique=True)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(128))
    revocation_reason: Mapped[str | None] = mapped_column(String(64))


class User(Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(128), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(256), default="")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class UserRole(Base):
    __tablename__ = "user_roles"

    username: Mapped[str] = mapped_column(ForeignKey("users.username", ondelete="CASCADE"),
                                          primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)


class AuditEntry(Base):
    """Who changed what through the store API, and when."""

    __tablename__ = "change_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(128), index=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(256))
    details: Mapped[dict[str, object]] = mapped_column(JSON)
