"""Backend chosen from the URL scheme; bad URLs and unreachable databases fail clearly."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from gateway.store import Store, StoreConfigError, StoreUnavailable
from gateway.store._backend import parse, redact


@pytest.mark.parametrize(("url", "backend", "driver"), [
    ("sqlite:///zonegate.db", "sqlite", "sqlite+pysqlite"),
    ("sqlite:////var/lib/zonegate/z.db", "sqlite", "sqlite+pysqlite"),
    ("postgresql://zg@db.city.example/zonegate", "postgresql", "postgresql+psycopg"),
    ("postgres://zg@db/zonegate", "postgresql", "postgresql+psycopg"),
    ("postgresql+psycopg://zg@db/zonegate", "postgresql", "postgresql+psycopg"),
])
def test_backend_from_scheme(url: str, backend: str, driver: str) -> None:
    got_backend, parsed = parse(url)
    assert (got_backend, parsed.drivername) == (backend, driver)


@pytest.mark.parametrize(("url", "error"), [
    ("mysql://root@localhost/z", "unsupported scheme 'mysql'"),
    ("postgresql+asyncpg://u@h/d", "unsupported scheme"),
    ("sqlite://", "needs a file path"),
    ("sqlite:///:memory:", "needs a file path"),
    ("not a url", "is not a URL"),
    ("", "is not a URL"),
])
def test_bad_url(url: str, error: str) -> None:
    with pytest.raises(StoreConfigError, match=error):
        Store.open(url)


@pytest.mark.parametrize(("url", "schema", "error"), [
    ("sqlite:///z.db", "zg", "PostgreSQL stores only"),
    ("postgresql://u@h/d", "Bad-Schema", "schema 'Bad-Schema'"),
    ("postgresql://u@h/d", 'x"; DROP', "schema"),
])
def test_bad_schema_option(url: str, schema: str, error: str) -> None:
    with pytest.raises(StoreConfigError, match=error):
        Store.open(url, schema=schema)


def test_password_is_never_shown() -> None:
    assert "s3cret" not in redact("postgresql://zg:s3cret@db/zonegate")
    with pytest.raises(StoreConfigError) as caught:
        Store.open("mysql://zg:s3cret@db/zonegate")
    assert "s3cret" not in str(caught.value)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_postgres_on_a_closed_port_is_unavailable() -> None:
    store = Store.open(f"postgresql://zg:s3cret@127.0.0.1:{_closed_port()}/test",
                       connect_timeout_s=2)
    with pytest.raises(StoreUnavailable, match="unavailable") as caught:
        store.ping()
    assert "s3cret" not in str(caught.value)
    with pytest.raises(StoreUnavailable):
        store.migrate()
    store.close()


def test_sqlite_in_a_missing_directory_is_unavailable(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/missing/dir/z.db")
    with pytest.raises(StoreUnavailable, match="unable to open database file"):
        store.ping()
    store.close()


def test_sqlite_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not an SQLite database at all" * 100)
    store = Store.open(f"sqlite:///{path}")
    with pytest.raises(StoreUnavailable, match="not a database"):
        store.migrate()
    store.close()
    assert path.read_bytes().startswith(b"this is not an SQLite")


def test_unmigrated_store_names_the_missing_table(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/empty.db")
    with pytest.raises(StoreUnavailable, match="no such table"):
        store.alerts.count()
    store.close()
