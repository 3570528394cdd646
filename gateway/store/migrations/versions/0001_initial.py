"""Initial schema: alerts, devices, quarantines, decisions, policies, certificates, users, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    # gateway.store._columns.UTCDateTime stores through this type
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _str(name: str, length: int, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.String(length=length), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "alerts",
        _str("id", 128),
        _when("timestamp"),
        _str("rule_id", 64),
        _str("rule_name", 256),
        sa.Column("severity", sa.Integer(), nullable=False),
        _str("source_ip", 45, True),
        _str("source_mac", 17, True),
        _str("destination_ip", 45, True),
        sa.Column("destination_port", sa.Integer(), nullable=True),
        _str("device_id", 128, True),
        _str("group_key", 128),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        _str("status", 16),
        _str("assignee", 128, True),
        _when("ingested_at"),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index(op.f("ix_alerts_group_key_rule_id"), "alerts", ["group_key", "rule_id"])
    op.create_index(op.f("ix_alerts_status"), "alerts", ["status"])
    op.create_index(op.f("ix_alerts_timestamp_id"), "alerts", ["timestamp", "id"])

    op.create_table(
        "alert_comments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _str("alert_id", 128),
        _str("author", 128),
        _when("at"),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE",
                                name=op.f("fk_alert_comments_alert_id_alerts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_comments")),
    )
    op.create_index(op.f("ix_alert_comments_alert_id"), "alert_comments", ["alert_id"])

    op.create_table(
        "devices",
        _str("id", 128),
        _str("mac", 17, True),
        _str("vendor", 128, True),
        _str("hostname", 255, True),
        _str("device_class", 64, True),
        _when("first_seen"),
        _when("last_seen"),
        _str("trust", 16),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
    )
    op.create_index(op.f("ix_devices_mac"), "devices", ["mac"])

    op.create_table(
        "device_ips",
        _str("device_id", 128),
        _str("ip", 45),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], ondelete="CASCADE",
                                name=op.f("fk_device_ips_device_id_devices")),
        sa.PrimaryKeyConstraint("device_id", "ip", name=op.f("pk_device_ips")),
    )
    op.create_index(op.f("ix_device_ips_ip"), "device_ips", ["ip"])

    op.create_table(
        "quarantines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _str("device_id", 128),
        sa.Column("reason", sa.Text(), nullable=False),
        _str("quarantined_by", 128),
        _when("since"),
        _when("until", True),
        _when("released_at", True),
        _str("released_by", 128, True),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"],
                                name=op.f("fk_quarantines_device_id_devices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantines")),
    )
    op.create_index(op.f("ix_quarantines_device_id"), "quarantines", ["device_id"])
    op.create_index(op.f("ix_quarantines_released_at_until"), "quarantines",
                    ["released_at", "until"])

    op.create_table(
        "decisions",
        _str("decision_id", 64),
        _when("time"),
        _str("subject", 256),
        _str("device", 128, True),
        _str("zone", 64, True),
        _str("method", 16),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("allow", sa.Boolean(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        _str("level", 2, True),
        sa.PrimaryKeyConstraint("decision_id", name=op.f("pk_decisions")),
    )
    op.create_index(op.f("ix_decisions_device_time"), "decisions", ["device", "time"])
    op.create_index(op.f("ix_decisions_subject_time"), "decisions", ["subject", "time"])
    op.create_index(op.f("ix_decisions_time_decision_id"), "decisions", ["time", "decision_id"])
    op.create_index(op.f("ix_decisions_zone_time"), "decisions", ["zone", "time"])

    op.create_table(
        "policy_revisions",
        _str("revision", 128),
        _str("uploaded_by", 128),
        _when("uploaded_at"),
        sa.Column("bundle", sa.LargeBinary(), nullable=False),
        _str("sha256", 64),
        sa.Column("tests_passed", sa.Boolean(), nullable=False),
        sa.Column("test_results", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("revision", name=op.f("pk_policy_revisions")),
        sa.UniqueConstraint("sha256", name=op.f("uq_policy_revisions_sha256")),
    )
    # at most one active revision
    op.create_index("uq_policy_revisions_one_active", "policy_revisions", ["active"],
                    unique=True, sqlite_where=sa.text("active"),
                    postgresql_where=sa.text("active"))

    op.create_table(
        "policy_activations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _str("revision", 128),
        _when("at"),
        _str("by", 128),
        _str("kind", 16),
        sa.ForeignKeyConstraint(["revision"], ["policy_revisions.revision"],
                                name=op.f("fk_policy_activations_revision_policy_revisions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_activations")),
    )
    op.create_index(op.f("ix_policy_activations_revision"), "policy_activations", ["revision"])

    op.create_table(
        "certificates",
        _str("serial", 64),
        _str("spiffe_id", 2048),
        _str("fingerprint", 71, True),
        _when("not_before"),
        _when("not_after"),
        _when("issued_at"),
        _when("revoked_at", True),
        _str("revoked_by", 128, True),
        _str("revocation_reason", 64, True),
        sa.PrimaryKeyConstraint("serial", name=op.f("pk_certificates")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_certificates_fingerprint")),
    )
    op.create_index(op.f("ix_certificates_spiffe_id"), "certificates", ["spiffe_id"])

    op.create_table(
        "users",
        _str("username", 128),
        _str("display_name", 256),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_users")),
    )
    op.create_table(
        "user_roles",
        _str("username", 128),
        _str("role", 32),
        sa.ForeignKeyConstraint(["username"], ["users.username"], ondelete="CASCADE",
                                name=op.f("fk_user_roles_username_users")),
        sa.PrimaryKeyConstraint("username", "role", name=op.f("pk_user_roles")),
    )

    op.create_table(
        "change_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _when("at"),
        _str("actor", 128),
        _str("action", 64),
        _str("target", 256),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_audit")),
    )
    op.create_index(op.f("ix_change_audit_actor"), "change_audit", ["actor"])
    op.create_index(op.f("ix_change_audit_at"), "change_audit", ["at"])


def downgrade() -> None:
    for table in ("change_audit", "user_roles", "users", "certificates", "policy_activations",
                  "policy_revisions", "decisions", "quarantines", "device_ips", "devices",
                  "alert_comments", "alerts"):
        op.drop_table(table)
