"""Migrations: empty to head on both backends, matching the models, and back down."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from gateway.store import DecisionRecord, MigrationError, Store
from gateway.store.migrate import head
from gateway.store.models import Base
from tests.gateway.store.conftest import Target

TABLES = {"alerts", "alert_comments", "devices", "device_ips", "quarantines", "decisions",
          "policy_revisions", "policy_activations", "certificates", "users", "user_roles",
          "change_audit"}


def _tables(store: Store) -> set[str]:
    with store._db.engine.connect() as conn:
        return set(inspect(conn).get_table_names()) - {"alembic_version"}


def test_empty_to_head_creates_every_table(target: Target) -> None:
    store = target.open()
    assert store.revision() is None
    assert _tables(store) == set()
    assert store.migrate() == head() == "0002"
    assert _tables(store) == TABLES
    store.check_schema()


def test_migrated_schema_matches_the_models(target: Target) -> None:
    store = target.open()
    store.migrate()
    with store._db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                Base.metadata)
    assert diff == []


def test_migrate_twice_is_a_no_op(target: Target) -> None:
    store = target.open()
    store.migrate()
    store.users.add("alice", ["admin"], by="setup")
    assert store.migrate() == "0002"
    assert store.users.get("alice").roles == ("admin",)


def test_downgrade_to_base_drops_everything(target: Target) -> None:
    store = target.open()
    store.migrate()
    assert store.downgrade("base") is None
    assert _tables(store) == set()


def test_check_schema_names_the_fix(target: Target) -> None:
    store = target.open()
    with pytest.raises(MigrationError, match="run 'zonegate store migrate'"):
        store.check_schema()


def test_schema_newer_than_the_code_is_refused(target: Target) -> None:
    store = target.open()
    store.migrate()
    with store._db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(MigrationError, match="newer than this code"):
        store.check_schema()
    with pytest.raises(MigrationError, match="9999"):
        store.migrate()


def test_unknown_target_revision_is_a_migration_error(target: Target) -> None:
    store = target.open()
    with pytest.raises(MigrationError, match="nope"):
        store.migrate("nope")


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: object) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/wal.db")
    try:
        store.migrate()
        with store._db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
    finally:
        store.close()


def test_0002_keeps_indexed_decisions_and_adds_revision_and_input(target: Target) -> None:
    store = target.open()
    store.migrate("0001")
    with store._db.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO decisions (decision_id, time, subject, method, path, allow, reasons)"
            " VALUES ('old-1', :at, 'alice', 'GET', '/zones/open/x', :allow, '[]')"),
            {"at": datetime(2026, 11, 25, 8, tzinfo=UTC), "allow": True})
    assert store.migrate() == "0002"
    old = store.decisions.get("old-1")
    assert (old.subject, old.allow, old.revision, old.input) == ("alice", True, None, None)
    store.decisions.record(DecisionRecord(
        decision_id="new-1", time=datetime(2026, 11, 25, 9, tzinfo=UTC), subject="bob",
        device=None, zone="open", method="GET", path="/zones/open/y", allow=False,
        reasons=("zone-not-permitted",), revision="v7",
        input={"subject": {"id": "bob"}, "resource": {"zone": "open"}}))
    new = store.decisions.get("new-1")
    assert (new.revision, new.input) == ("v7", {"subject": {"id": "bob"},
                                                "resource": {"zone": "open"}})
    assert store.downgrade("0001") == "0001"
    assert store.migrate() == "0002"
    assert store.decisions.get("new-1").input is None  # the columns went and came back
