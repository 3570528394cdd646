"""Schema migrations with alembic, configured in code (no alembic.ini).

`upgrade(engine, backend, schema)` brings an empty or older database to head inside one
transaction; on PostgreSQL an advisory lock keeps two replicas from migrating at once.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection, Engine

from gateway.store._backend import WRITE_OPTION, Backend

SCRIPTS = Path(__file__).resolve().parent / "migrations"
_LOCK_KEY = 0x7A6F6E6567617465  # "zonegate"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision this code knows."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    if revision is None:
        raise CommandError("no migration scripts found")
    return revision


def known(revision: str) -> bool:
    """Whether `revision` is one of this code's migration scripts."""
    try:
        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except CommandError:
        return False


def current(connection: Connection) -> str | None:
    """The database's revision (None: never migrated)."""
    return MigrationContext.configure(connection).get_current_revision()


def _prepare(connection: Connection, backend: Backend, schema: str | None) -> None:
    if backend == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")
        if schema is not None:
            connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')


def upgrade(engine: Engine, backend: Backend, schema: str | None, target: str = "head") -> None:
    """Migrate up to `target` in one transaction."""
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as connection, \
            connection.begin():
        _prepare(connection, backend, schema)
        command.upgrade(_config(connection), target)


def downgrade(engine: Engine, backend: Backend, schema: str | None, target: str) -> None:
    """Migrate down to `target` ("base" drops every table) in one transaction."""
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as connection, \
            connection.begin():
        _prepare(connection, backend, schema)
        command.downgrade(_config(connection), target)
