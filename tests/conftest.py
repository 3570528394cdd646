"""Shared test helpers.

Services: a test that needs PostgreSQL, Redis or MQTT asks `require_service(...)`. Locally it
skips with the reason when the service is down; in CI (`ZONEGATE_REQUIRE_SERVICES=1`) it
fails instead, so a missing service can never turn into a silent green run.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable

import pytest

REQUIRE_SERVICES = os.environ.get("ZONEGATE_REQUIRE_SERVICES") == "1"


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _unavailable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (ZONEGATE_REQUIRE_SERVICES=1, so this is a failure)")
    pytest.skip(reason)


@pytest.fixture
def require_service() -> Callable[[str, int], None]:
    """Call with (name, port) to need a local service on 127.0.0.1."""

    def need(name: str, port: int) -> None:
        if not _port_open("127.0.0.1", port):
            _unavailable(f"{name} is not listening on 127.0.0.1:{port}")

    return need


@pytest.fixture
def require_tool() -> Callable[[str], str]:
    """Call with a program name to need it on PATH; returns its path."""

    def need(name: str) -> str:
        path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
        if path is None:
            _unavailable(f"{name} is not installed (scripts/install-system-deps.sh installs it)")
            raise AssertionError("unreachable")
        return path

    return need
