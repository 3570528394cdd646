"""`Store`: the SQLAlchemy implementation of the store port.

    store = Store.open("sqlite:///zonegate.db")      # or postgresql://user@host/db
    store.migrate()
    alert_id, created = store.alerts.ingest(alert)
    store.quarantine("cam-7", "port scan", by="alice", until=later)
"""

from __future__ import annotations

from datetime import datetime
from types import TracebackType

from alembic.util.exc import CommandError
from sqlalchemy import text

from gateway.store import _backend, migrate
from gateway.store._db import Clock, Database, utc_now
from gateway.store.alerts import AlertRepository
from gateway.store.audit import AuditRepository
from gateway.store.certificates import CertificateRepository
from gateway.store.decisions import DecisionRepository
from gateway.store.devices import DeviceRepository
from gateway.store.errors import MigrationError
from gateway.store.policies import PolicyRepository
from gateway.store.quarantines import QuarantineRepository
from gateway.store.types import QuarantinedDevice, QuarantineRecord
from gateway.store.users import UserRepository


class Store:
    """Repositories over one engine; thread-safe, one per process."""

    def __init__(self, db: Database, schema: str | None) -> None:
        self._db = db
        self._schema = schema
        self.alerts = AlertRepository(db)
        self.devices = DeviceRepository(db)
        self.quarantines = QuarantineRepository(db)
        self.decisions = DecisionRepository(db)
        self.policies = PolicyRepository(db)
        self.certificates = CertificateRepository(db)
        self.users = UserRepository(db)
        self.audit = AuditRepository(db)

    @classmethod
    def open(cls, url: str, *, schema: str | None = None, clock: Clock | None = None,
             busy_timeout_s: float = 10.0, connect_timeout_s: int = 5) -> Store:
        """Open the store at `url` (no connection is made until first use).

        `schema` (PostgreSQL only) keeps every table in that schema, created by `migrate`;
        `clock` replaces the wall clock (tests).
        """
        options = _backend.EngineOptions(schema=schema, busy_timeout_s=busy_timeout_s,
                                         connect_timeout_s=connect_timeout_s)
        backend, engine = _backend.create(url, options)
        return cls(Database(engine, backend, clock or utc_now, _backend.redact(url)), schema)

    @property
    def backend(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self._db.backend

    @property
    def url(self) -> str:
        """The store URL with any password hidden."""
        return self._db.where

    def migrate(self, target: str = "head") -> str | None:
        """Bring the schema up to `target` (default: this code's head)."""
        with self._db.guard(f"migrate {self.url}"):
            try:
                migrate.upgrade(self._db.engine, self._db.backend, self._schema, target)
            except CommandError as exc:
                raise MigrationError(f"migrate {self.url}: {exc}") from exc
        return self.revision()

    def downgrade(self, target: str) -> str | None:
        """Migrate down to `target`; "base" drops every table (and all data)."""
        with self._db.guard(f"downgrade {self.url}"):
            try:
                migrate.downgrade(self._db.engine, self._db.backend, self._schema, target)
            except CommandError as exc:
                raise MigrationError(f"downgrade {self.url}: {exc}") from exc
        return self.revision()

    def revision(self) -> str | None:
        """The schema revision in the database (None: never migrated)."""
        with self._db.guard(f"read schema revision of {self.url}"), \
                self._db.engine.connect() as connection:
            return migrate.current(connection)

    def check_schema(self) -> None:
        """Raise MigrationError unless the database is at this code's head revision."""
        current, head = self.revision(), migrate.head()
        if current == head:
            return
        if current is None:
            raise MigrationError(f"store {self.url} has no schema; run 'zonegate store migrate'")
        if not migrate.known(current):
            raise MigrationError(f"store {self.url} is at revision {current!r}, newer than this "
                                 f"code (head {head!r}); upgrade zonegate")
        raise MigrationError(f"store {self.url} is at revision {current!r}, behind head "
                             f"{head!r}; run 'zonegate store migrate'")

    def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers a query."""
        with self._db.guard(f"ping {self.url}"), self._db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def close(self) -> None:
        """Close every pooled connection; the store reconnects if used again."""
        self._db.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # The quarantine verbs are also on the store itself: they are what the gateway needs.
    def quarantine(self, device: str, reason: str, by: str, *, until: datetime | None = None,
                   since: datetime | None = None) -> QuarantineRecord:
        """Quarantine an inventoried device; see QuarantineRepository.quarantine."""
        return self.quarantines.quarantine(device, reason, by, until=until, since=since)

    def release(self, device: str, by: str) -> tuple[QuarantineRecord, ...]:
        """End the device's active quarantines."""
        return self.quarantines.release(device, by)

    def active_quarantines(self, now: datetime | None = None) -> tuple[QuarantinedDevice, ...]:
        """Quarantines in force at `now`."""
        return self.quarantines.active(now)
