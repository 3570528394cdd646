"""Fixtures for the store's contract suite: every test runs on SQLite and on PostgreSQL.

PostgreSQL runs get schemas of their own (`zg_test_<pid>_<random>`) so parallel runs do
not collide; they are dropped afterwards. `target` is an empty database (for migration
and multi-store tests); `store` is a migrated, empty store, made cheaply: SQLite copies a
file migrated once per session, PostgreSQL truncates a schema migrated once per session.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from gateway.store import Store

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "store"
PG_HOST, PG_PORT, PG_DB = "127.0.0.1", 5432, "test"
PG_USERS = ("postgres", "root")


def pg_user() -> str:
    """The first of postgres/root that the local server lets in (trust auth)."""
    for user in PG_USERS:
        try:
            with psycopg.connect(host=PG_HOST, port=PG_PORT, dbname=PG_DB, user=user,
                                 connect_timeout=3):
                return user
        except psycopg.OperationalError:
            continue
    pytest.fail(f"PostgreSQL on {PG_HOST}:{PG_PORT} accepts none of the users {PG_USERS}")


@dataclass
class Target:
    """One database to test against; `open()` gives independent Store objects on it."""

    backend: str
    url: str
    schema: str | None = None
    opened: list[Store] = field(default_factory=list)

    def open(self, url: str | None = None, schema: str | None = None,
             **options: object) -> Store:
        store = Store.open(url or self.url, schema=schema or self.schema, **options)
        self.opened.append(store)
        return store

    def close_all(self) -> None:
        for store in self.opened:
            store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path,
           require_service: Callable[[str, int], None]) -> Iterator[Target]:
    if request.param == "sqlite":
        tgt = Target("sqlite", f"sqlite:///{tmp_path / 'zonegate.db'}")
        yield tgt
        tgt.close_all()
        return
    require_service("PostgreSQL", PG_PORT)
    user = pg_user()
    schema = f"zg_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    tgt = Target("postgresql", f"postgresql://{user}@{PG_HOST}:{PG_PORT}/{PG_DB}", schema)
    try:
        yield tgt
    finally:
        tgt.close_all()
        _drop_schema(user, schema)


def _drop_schema(user: str, schema: str) -> None:
    with psycopg.connect(host=PG_HOST, port=PG_PORT, dbname=PG_DB, user=user,
                         autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated to head once per session."""
    path = tmp_path_factory.mktemp("template") / "zonegate.db"
    with Store.open(f"sqlite:///{path}") as template:
        template.migrate()
    return path


@pytest.fixture(scope="session")
def pg_shared() -> Iterator[tuple[str, str]]:
    """(user, schema) of a PostgreSQL schema migrated to head once per session."""
    user = pg_user()
    schema = f"zg_test_{os.getpid()}_{uuid.uuid4().hex[:8]}_shared"
    with Store.open(f"postgresql://{user}@{PG_HOST}:{PG_PORT}/{PG_DB}", schema=schema) as s:
        s.migrate()
    yield user, schema
    _drop_schema(user, schema)


@pytest.fixture
def store(target: Target, request: pytest.FixtureRequest) -> Store:
    """A migrated, empty store."""
    if target.backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copy(template, target.url.removeprefix("sqlite:///"))
        return target.open()
    _user, schema = request.getfixturevalue("pg_shared")
    opened = target.open(schema=schema)
    tables = ", ".join(f'"{t}"' for t in TABLES)
    with opened._db.engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    return opened


TABLES = ("alerts", "alert_comments", "devices", "device_ips", "quarantines", "decisions",
          "policy_revisions", "policy_activations", "certificates", "users", "user_roles",
          "change_audit")


def valid_alerts() -> list[dict[str, object]]:
    lines = (VECTORS / "alerts_valid.ndjson").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def make_alert(n: int, *, second: int | None = None, rule: str = "port_scan_horizontal",
               device: str | None = None, ip: str = "10.0.0.13", severity: int = 50,
               message: str | None = None) -> dict[str, object]:
    """A valid alert, distinct for each `n`; `second` fixes its timestamp within the hour."""
    sec = n % 3600 if second is None else second
    alert: dict[str, object] = {
        "@timestamp": f"2026-11-25T08:{sec // 60:02d}:{sec % 60:02d}.000Z",
        "event": {"kind": "alert", "category": ["network"], "severity": severity},
        "rule": {"id": rule, "name": rule.replace("_", " "), "ruleset": "zonegate-monitor"},
        "source": {"ip": ip},
        "message": message if message is not None else f"alert number {n}",
    }
    if device is not None:
        alert["device"] = {"id": device}
    return alert
