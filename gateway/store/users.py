"""Users of the control plane and their roles (soc-analyst, security-officer, admin).

Authentication happens at the identity provider; the store only says which roles a known
username holds and whether the account is disabled.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import cast

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gateway.store import _validate
from gateway.store._db import Database
from gateway.store.errors import Conflict, InvalidRecord, NotFound
from gateway.store.models import User, UserRole
from gateway.store.types import ROLES, Role, UserRecord

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+\-]{0,127}$")


def _username(value: object) -> str:
    if not isinstance(value, str) or not _USERNAME.match(value):
        raise InvalidRecord(f"username: {value!r} must be 1-128 of [A-Za-z0-9._@+-]")
    return value


def _roles(values: Iterable[str]) -> tuple[Role, ...]:
    roles = tuple(sorted(set(values)))
    bad = [r for r in roles if r not in ROLES]
    if bad:
        raise InvalidRecord(f"roles: unknown {bad}; known roles are {', '.join(ROLES)}")
    return cast(tuple[Role, ...], roles)


def _load(session: Session, row: User) -> UserRecord:
    roles = session.scalars(select(UserRole.role).where(UserRole.username == row.username)
                            .order_by(UserRole.role))
    return UserRecord(username=row.username, display_name=row.display_name,
                      roles=cast(tuple[Role, ...], tuple(roles)), disabled=row.disabled,
                      created_at=row.created_at)


class UserRepository:
    """Known control-plane users and their roles."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, username: str, roles: Iterable[str], by: str, *,
            display_name: str = "") -> UserRecord:
        """Create a user with roles; Conflict if the username is taken."""
        name = _username(username)
        granted = _roles(roles)
        _validate.actor(by)
        _validate.text(display_name, "display_name", max_len=256, required=False)
        with self._db.write(f"add user {name}") as session:
            if session.get(User, name) is not None:
                raise Conflict(f"user {name!r} already exists")
            row = User(username=name, display_name=display_name, disabled=False,
                       created_at=self._db.now())
            session.add(row)
            session.flush()
            session.add_all(UserRole(username=name, role=role) for role in granted)
            self._db.audit(session, by, "user.add", f"user:{name}", {"roles": list(granted)})
            session.flush()
            return _load(session, row)

    def get(self, username: str) -> UserRecord:
        """The user; NotFound if unknown."""
        with self._db.read(f"read user {username}") as session:
            return _load(session, self._row(session, username))

    def list(self) -> tuple[UserRecord, ...]:
        """Every user, by username."""
        with self._db.read("list users") as session:
            rows = list(session.scalars(select(User).order_by(User.username)))
            return tuple(_load(session, row) for row in rows)

    def set_roles(self, username: str, roles: Iterable[str], by: str) -> UserRecord:
        """Replace the user's roles."""
        granted = _roles(roles)
        _validate.actor(by)
        with self._db.write(f"set roles of user {username}") as session:
            row = self._row(session, username, lock=True)
            before = _load(session, row).roles
            session.execute(delete(UserRole).where(UserRole.username == username))
            session.add_all(UserRole(username=username, role=role) for role in granted)
            self._db.audit(session, by, "user.roles", f"user:{username}",
                           {"from": list(before), "to": list(granted)})
            session.flush()
            return _load(session, row)

    def set_disabled(self, username: str, disabled: bool, by: str) -> UserRecord:
        """Disable (or re-enable) an account; a disabled user holds no role in effect."""
        _validate.actor(by)
        with self._db.write(f"{'disable' if disabled else 'enable'} user {username}") as session:
            row = self._row(session, username, lock=True)
            row.disabled = disabled
            self._db.audit(session, by, "user.disable" if disabled else "user.enable",
                           f"user:{username}")
            session.flush()
            return _load(session, row)

    def roles_of(self, username: str) -> tuple[Role, ...]:
        """The roles in effect: none for an unknown or disabled user."""
        with self._db.read(f"read roles of {username}") as session:
            row = session.get(User, username)
            if row is None or row.disabled:
                return ()
            return _load(session, row).roles

    @staticmethod
    def _row(session: Session, username: str, *, lock: bool = False) -> User:
        query = select(User).where(User.username == username)
        row = session.scalar(query.with_for_update() if lock else query)
        if row is None:
            raise NotFound(f"user {username!r} does not exist")
        return row
