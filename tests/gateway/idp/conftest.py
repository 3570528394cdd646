"""Fixtures: the dev IdP with its demo users on a free loopback port, and an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from gateway.idp import DevIdP, demo_config


@pytest.fixture
async def idp() -> AsyncIterator[DevIdP]:
    async with DevIdP.start(demo_config(), "127.0.0.1", 0, admin_token="admin-token-for-tests"
                            ) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
