"""Fixtures: one egress deployment (and proxy) per test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway.egress.harness import (
    Deployment,
    deployment,
    start_proxy,
    stop_proxy,
    write_config,
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root: Path = tmp_path_factory.mktemp("egress")
    for d in deployment(root):
        proc, port = start_proxy(write_config(d))
        d.process, d.proxy_port = proc, port
        try:
            yield d
        finally:
            stop_proxy(proc)
