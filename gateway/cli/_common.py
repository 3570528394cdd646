"""Helpers shared by the CLI verb modules."""

from __future__ import annotations

from typing import NoReturn

from gateway.errors import NotImplementedYet


def planned(verb: str, issue: int) -> NoReturn:
    """Refuse a verb that has not landed: exit 2, no fake output."""
    raise NotImplementedYet(f"'zonegate {verb}' is not implemented yet (planned in issue #{issue})")
