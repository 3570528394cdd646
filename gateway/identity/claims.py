"""Map verified token claims onto the policy `Subject`.

Where roles, groups and clearance live differs between IdPs (`roles`, Keycloak's
`realm_access.roles`, `groups`, a custom `clearance`), so each is a list of dotted claim
paths tried in order; the first path present wins. A claim that is present but has the wrong
shape is an error, never silently dropped: a mistyped clearance must not become a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.identity.errors import InvalidCredentials
from gateway.identity.types import Subject, SubjectType

__all__ = ["LEVELS", "ClaimMapping", "subject_from_claims"]

LEVELS = ("L1", "L2", "L3", "L4", "L5", "L6")
_MAX_ITEMS = 256
_MISSING = object()


@dataclass(frozen=True, slots=True)
class ClaimMapping:
    """Where to find roles, groups and clearance in a token (dotted paths, first wins)."""

    roles: tuple[str, ...] = ("roles", "realm_access.roles")
    groups: tuple[str, ...] = ("groups",)
    clearance: tuple[str, ...] = ("clearance",)
    default_clearance: str = "L1"

    def __post_init__(self) -> None:
        if self.default_clearance not in LEVELS:
            raise ValueError(f"default_clearance must be one of {LEVELS}, "
                             f"got {self.default_clearance!r}")


def _lookup(claims: Mapping[str, object], path: str) -> object:
    node: object = claims
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _first(claims: Mapping[str, object], paths: tuple[str, ...]) -> tuple[str, object]:
    for path in paths:
        value = _lookup(claims, path)
        if value is not _MISSING:
            return path, value
    return "", _MISSING


def _string_list(claims: Mapping[str, object], paths: tuple[str, ...]) -> tuple[str, ...]:
    path, value = _first(claims, paths)
    if value is _MISSING or value is None:
        return ()
    if isinstance(value, str):
        value = value.split()
    if (not isinstance(value, list) or len(value) > _MAX_ITEMS
            or not all(isinstance(item, str) for item in value)):
        raise InvalidCredentials("bad-claim", f"claim {path!r} must be a list of strings")
    return tuple(dict.fromkeys(value))


def _string(claims: Mapping[str, object], name: str) -> str:
    value = claims.get(name, "")
    if not isinstance(value, str):
        raise InvalidCredentials("bad-claim", f"claim {name!r} must be a string")
    return value


def _subject_type(claims: Mapping[str, object], sub: str) -> SubjectType:
    # RFC 9068 §2.2: for client_credentials the subject is the client itself
    client_id = claims.get("client_id", claims.get("azp"))
    return "service" if isinstance(client_id, str) and client_id == sub else "user"


def subject_from_claims(
    claims: Mapping[str, object], mapping: ClaimMapping, *, spiffe_id: str = ""
) -> Subject:
    """Build the contract-3 subject from verified claims; bad shapes raise InvalidCredentials."""
    sub = _string(claims, "sub")
    if not sub:
        raise InvalidCredentials("missing-claim", "the token has no 'sub'")
    path, clearance = _first(claims, mapping.clearance)
    if clearance is _MISSING or clearance is None:
        clearance = mapping.default_clearance
    if clearance not in LEVELS:
        raise InvalidCredentials("bad-claim", f"claim {path!r} must be one of {', '.join(LEVELS)}")
    auth_time = claims.get("auth_time", 0)
    if isinstance(auth_time, bool) or not isinstance(auth_time, int):
        raise InvalidCredentials("bad-claim", "claim 'auth_time' must be an integer")
    return Subject(
        authenticated=True,
        type=_subject_type(claims, sub),
        id=sub,
        issuer=_string(claims, "iss"),
        roles=_string_list(claims, mapping.roles),
        groups=_string_list(claims, mapping.groups),
        clearance=str(clearance),
        acr=_string(claims, "acr"),
        amr=_string_list(claims, ("amr",)),
        auth_time=auth_time,
        spiffe_id=spiffe_id,
    )
