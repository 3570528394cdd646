"""Policy revisions: uploaded bundles, their test results, activation and rollback.

The activation log is a stack: `activate` pushes a revision, `rollback` pops back to the
one below. At most one revision is active; a partial unique index makes the database
itself refuse a second one.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Literal, cast

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.store import _validate
from gateway.store._db import Database
from gateway.store.errors import Conflict, InvalidRecord, NotFound
from gateway.store.models import PolicyActivation, PolicyRevision
from gateway.store.types import PolicyActivationRecord, PolicyRevisionRecord

MAX_BUNDLE_BYTES = 32 * 1024 * 1024
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+\-]{0,127}$")


def _record(row: PolicyRevision) -> PolicyRevisionRecord:
    return PolicyRevisionRecord(revision=row.revision, uploaded_by=row.uploaded_by,
                                uploaded_at=row.uploaded_at, sha256=row.sha256,
                                size=len(row.bundle), tests_passed=row.tests_passed,
                                test_results=dict(row.test_results), active=row.active)


def _activation(row: PolicyActivation) -> PolicyActivationRecord:
    kind = cast(Literal["activate", "rollback"], row.kind)
    return PolicyActivationRecord(revision=row.revision, at=row.at, by=row.by, kind=kind)


class PolicyRepository:
    """Uploaded policy bundles and which one is in force."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, revision: str, bundle: bytes, uploaded_by: str, *, tests_passed: bool,
            test_results: Mapping[str, object] | None = None) -> PolicyRevisionRecord:
        """Store a bundle under a new revision name with the result of its policy tests."""
        if not isinstance(revision, str) or not _REVISION.match(revision):
            raise InvalidRecord(f"revision: {revision!r} must be 1-128 of [A-Za-z0-9._:+-]")
        if not isinstance(bundle, bytes) or not bundle:
            raise InvalidRecord("bundle: must be non-empty bytes")
        if len(bundle) > MAX_BUNDLE_BYTES:
            raise InvalidRecord(f"bundle: {len(bundle)} bytes, more than {MAX_BUNDLE_BYTES}")
        if not isinstance(tests_passed, bool):
            raise InvalidRecord("tests_passed: must be true or false")
        _validate.actor(uploaded_by, "uploaded_by")
        try:
            results: dict[str, object] = json.loads(json.dumps(dict(test_results or {})))
        except (TypeError, ValueError) as exc:
            raise InvalidRecord(f"test_results: not JSON-serialisable: {exc}") from None
        digest = hashlib.sha256(bundle).hexdigest()
        with self._db.write(f"add policy revision {revision}") as session:
            if session.get(PolicyRevision, revision) is not None:
                raise Conflict(f"policy revision {revision!r} already exists")
            same = session.scalar(select(PolicyRevision.revision)
                                  .where(PolicyRevision.sha256 == digest))
            if same is not None:
                raise Conflict(f"this bundle is already stored as revision {same!r}")
            row = PolicyRevision(revision=revision, uploaded_by=uploaded_by,
                                 uploaded_at=self._db.now(), bundle=bundle, sha256=digest,
                                 tests_passed=tests_passed, test_results=results, active=False)
            session.add(row)
            self._db.audit(session, uploaded_by, "policy.add", f"policy:{revision}",
                           {"sha256": digest, "size": len(bundle),
                            "tests_passed": tests_passed})
            session.flush()
            return _record(row)

    def get(self, revision: str) -> PolicyRevisionRecord:
        """The revision's metadata; NotFound if there is none."""
        with self._db.read(f"read policy revision {revision}") as session:
            return _record(self._row(session, revision))

    def bundle(self, revision: str) -> bytes:
        """The revision's bundle bytes, checked against the stored hash."""
        with self._db.read(f"read policy bundle {revision}") as session:
            row = self._row(session, revision)
            if hashlib.sha256(row.bundle).hexdigest() != row.sha256:
                raise Conflict(f"policy revision {revision!r}: bundle does not match its hash")
            return bytes(row.bundle)

    def active(self) -> PolicyRevisionRecord | None:
        """The revision in force, if any."""
        with self._db.read("read active policy") as session:
            row = session.scalar(select(PolicyRevision).where(PolicyRevision.active.is_(True)))
            return None if row is None else _record(row)

    def revisions(self) -> tuple[PolicyRevisionRecord, ...]:
        """Every uploaded revision, newest first."""
        with self._db.read("list policy revisions") as session:
            rows = session.scalars(select(PolicyRevision)
                                   .order_by(PolicyRevision.uploaded_at.desc(),
                                             PolicyRevision.revision.desc()))
            return tuple(_record(row) for row in rows)

    def history(self) -> tuple[PolicyActivationRecord, ...]:
        """Every activation and rollback, newest first."""
        with self._db.read("read policy history") as session:
            rows = session.scalars(select(PolicyActivation).order_by(PolicyActivation.id.desc()))
            return tuple(_activation(row) for row in rows)

    def activate(self, revision: str, by: str) -> PolicyRevisionRecord:
        """Put a revision whose tests passed in force."""
        _validate.actor(by)
        with self._db.write(f"activate policy revision {revision}") as session:
            row = self._row(session, revision, lock=True)
            if not row.tests_passed:
                raise Conflict(f"policy revision {revision!r} failed its tests; "
                               "it cannot be activated")
            if row.active:
                raise Conflict(f"policy revision {revision!r} is already active")
            return self._switch(session, row, by, "activate")

    def rollback(self, by: str) -> PolicyRevisionRecord:
        """Go back to the revision that was in force before the current one."""
        _validate.actor(by)
        with self._db.write("roll back policy") as session:
            stack: list[str] = []
            for entry in session.scalars(select(PolicyActivation).order_by(PolicyActivation.id)
                                         .with_for_update()):
                if entry.kind == "rollback":
                    if stack:
                        stack.pop()
                else:
                    stack.append(entry.revision)
            if len(stack) < 2:
                raise Conflict("no earlier policy revision to roll back to")
            return self._switch(session, self._row(session, stack[-2], lock=True), by,
                                "rollback")

    def _switch(self, session: Session, row: PolicyRevision, by: str,
                kind: Literal["activate", "rollback"]) -> PolicyRevisionRecord:
        previous = session.scalar(select(PolicyRevision.revision)
                                  .where(PolicyRevision.active.is_(True)))
        session.execute(update(PolicyRevision).where(PolicyRevision.active.is_(True))
                        .values(active=False))
        session.execute(update(PolicyRevision).where(PolicyRevision.revision == row.revision)
                        .values(active=True))
        session.add(PolicyActivation(revision=row.revision, at=self._db.now(), by=by, kind=kind))
        self._db.audit(session, by, f"policy.{kind}", f"policy:{row.revision}",
                       {"previous": previous})
        session.flush()
        session.refresh(row)
        return _record(row)

    @staticmethod
    def _row(session: Session, revision: str, *, lock: bool = False) -> PolicyRevision:
        query = select(PolicyRevision).where(PolicyRevision.revision == revision)
        row = session.scalar(query.with_for_update() if lock else query)
        if row is None:
            raise NotFound(f"policy revision {revision!r} does not exist")
        return row
