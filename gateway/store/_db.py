"""Transactions, error translation and the change audit, shared by every repository.

A repository method opens one transaction with `db.write(action)` or `db.read(action)`.
Every SQLAlchemy or driver error leaving the block becomes a `StoreError` subclass naming
`action`; the transaction is rolled back, so a failed change leaves nothing half-written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import inspect
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import (
    DatabaseError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session

from gateway.store._backend import WRITE_OPTION, Backend
from gateway.store.errors import Conflict, StoreError, StoreUnavailable
from gateway.store.models import AuditEntry, Base

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current instant, aware, in UTC."""
    return datetime.now(UTC)


def _summary(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Database:
    """An engine plus the store's clock; hands out guarded sessions."""

    def __init__(self, engine: Engine, backend: Backend, clock: Clock, where: str) -> None:
        self.engine = engine
        self.backend = backend
        self.clock = clock
        self.where = where  # the redacted URL, for messages

    def now(self) -> datetime:
        return self.clock()

    @contextmanager
    def guard(self, action: str) -> Iterator[None]:
        """Translate database errors raised inside the block into the StoreError tree."""
        try:
            yield
        except StoreError:
            raise
        except IntegrityError as exc:
            raise Conflict(f"{action}: {_summary(exc)}") from exc
        except (OperationalError, InterfaceError, DisconnectionError) as exc:
            raise StoreUnavailable(f"{action}: store {self.where} unavailable: "
                                   f"{_summary(exc)}") from exc
        except DatabaseError as exc:
            raise StoreUnavailable(f"{action}: store {self.where} failed: "
                                   f"{_summary(exc)}") from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"{action}: {_summary(exc)}") from exc

    @contextmanager
    def write(self, action: str) -> Iterator[Session]:
        """A read-write transaction, committed when the block ends without an error."""
        with (
            self.guard(action),
            Session(self.engine, expire_on_commit=False) as session,
            session.begin(),
        ):
            # SQLite: BEGIN IMMEDIATE, so concurrent writers wait instead of failing
            session.connection(execution_options={WRITE_OPTION: True})
            yield session

    @contextmanager
    def read(self, action: str) -> Iterator[Session]:
        """A read-only transaction; closing the session rolls it back."""
        with self.guard(action), Session(self.engine) as session:
            yield session

    def insert_new(self, session: Session, table: type[Base],
                   rows: Sequence[Mapping[str, object]]) -> int:
        """INSERT … ON CONFLICT DO NOTHING; returns how many rows were new.

        Race-free idempotence: two writers inserting the same key both succeed and exactly
        one of them counts the row as new.
        """
        if not rows:
            return 0
        key = inspect(table).primary_key[0]
        # Core executemany with RETURNING lists exactly the rows inserted (rowcount is -1
        # on psycopg) and, unlike a multi-VALUES literal, its compiled form is cached.
        if self.backend == "sqlite":
            sqlite_stmt = sqlite_insert(key.table).on_conflict_do_nothing().returning(key)
            result = session.connection().execute(sqlite_stmt, list(rows))
        else:
            pg_stmt = postgresql_insert(key.table).on_conflict_do_nothing().returning(key)
            result = session.connection().execute(pg_stmt, list(rows))
        return len(result.all())

    def audit(self, session: Session, actor: str, action: str, target: str,
              details: dict[str, object] | None = None) -> None:
        """Add a change-audit row inside the caller's transaction."""
        session.add(AuditEntry(at=self.now(), actor=actor, action=action, target=target,
                               details=details or {}))
