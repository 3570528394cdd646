"""Choose the database backend from the URL scheme (as encode/databases does).

`sqlite:///PATH` is the embedded default: WAL journal, foreign keys on, a busy timeout, and
write transactions opened with ``BEGIN IMMEDIATE`` so two writers queue on the busy timeout
instead of failing on a read-to-write lock upgrade. `postgresql://…` (or `postgres://`,
`postgresql+psycopg://`) is for several replicas and always runs on psycopg 3; its driver is
imported only when such a URL is opened.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, create_engine, make_url
from sqlalchemy.exc import ArgumentError

from gateway.store.errors import StoreConfigError

Backend = Literal["sqlite", "postgresql"]
WRITE_OPTION = "zonegate_write"
_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_SQLITE_SCHEMES = {"sqlite", "sqlite+pysqlite"}
_PG_SCHEMES = {"postgresql", "postgres", "postgresql+psycopg"}


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Tuning that the URL does not carry."""

    schema: str | None = None  # PostgreSQL only: run everything inside this schema
    busy_timeout_s: float = 10.0  # SQLite: how long a writer waits for the lock
    connect_timeout_s: int = 5  # PostgreSQL: how long to wait for a connection
    pool_size: int = 5


def redact(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable store URL>"


def parse(url: str) -> tuple[Backend, URL]:
    """Validate `url` and return its backend and the URL with the driver we use."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreConfigError(
            f"store URL {url!r} is not a URL; use sqlite:///PATH or postgresql://user@host/db"
        ) from None
    if parsed.drivername in _SQLITE_SCHEMES:
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise StoreConfigError(
                f"store URL {redact(url)!r}: SQLite needs a file path (sqlite:///zonegate.db); "
                "an in-memory database cannot be shared between connections"
            )
        return "sqlite", parsed.set(drivername="sqlite+pysqlite")
    if parsed.drivername in _PG_SCHEMES:
        if importlib.util.find_spec("psycopg") is None:
            raise StoreConfigError("a postgresql:// store needs psycopg 3 (pip install psycopg)")
        return "postgresql", parsed.set(drivername="postgresql+psycopg")
    raise StoreConfigError(
        f"store URL {redact(url)!r}: unsupported scheme {parsed.drivername!r}; "
        "use sqlite:///PATH or postgresql://user@host/db"
    )


def create(url: str, options: EngineOptions) -> tuple[Backend, Engine]:
    """Build the engine for `url`; no connection is made yet."""
    backend, parsed = parse(url)
    if options.schema is not None and not _SCHEMA.match(options.schema):
        raise StoreConfigError(
            f"schema {options.schema!r}: use lower-case letters, digits and '_' (max 63)"
        )
    if backend == "sqlite":
        if options.schema is not None:
            raise StoreConfigError("the schema option applies to PostgreSQL stores only")
        return backend, _sqlite_engine(parsed, options)
    return backend, _postgres_engine(parsed, options)


def _sqlite_engine(url: URL, options: EngineOptions) -> Engine:
    engine = create_engine(url, connect_args={"timeout": options.busy_timeout_s})
    busy_ms = int(options.busy_timeout_s * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: object, _record: object) -> None:
        # pysqlite's own transaction handling would defer BEGIN; we issue it ourselves
        dbapi_connection.isolation_level = None  # type: ignore[attr-defined]
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _postgres_engine(url: URL, options: EngineOptions) -> Engine:
    connect_args: dict[str, object] = {
        "connect_timeout": options.connect_timeout_s,
        # a silently dropped connection (no RST) is detected in ~11 s, not minutes
        "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
        "keepalives_count": 3,
    }
    if options.schema is not None:
        connect_args["options"] = f"-c search_path={options.schema}"
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=options.pool_size,
        connect_args=connect_args,
    )
