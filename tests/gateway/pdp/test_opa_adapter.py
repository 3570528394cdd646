"""The `opa` adapter: fail closed on every failure, reuse connections, real OPA if given.

Most tests run against the stand-in OPA server (opa_standin.py) because there is no OPA
binary here; `test_against_real_opa` runs against a real OPA when OPA_URL is set.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

import pytest

from gateway.pdp import OPAEngine, PDPError, PDPUnavailable
from tests.gateway.pdp.conftest import make_input
from tests.gateway.pdp.opa_standin import OPAStandIn


@pytest.mark.parametrize(("mode", "message"), [
    ("error", "HTTP 500"),
    ("garbage", "unavailable"),
    ("array", "non-object"),
])
async def test_bad_answers_are_unavailable(opa_standin: Callable[..., object], mode: str,
                                           message: str) -> None:
    server = await opa_standin(mode=mode)  # type: ignore[operator]
    assert isinstance(server, OPAStandIn)
    engine = OPAEngine(server.url, timeout_seconds=5)
    try:
        with pytest.raises(PDPUnavailable, match=message):
            await engine.evaluate(make_input())
    finally:
        await engine.close()


async def test_timeout_is_unavailable(opa_standin: Callable[..., object]) -> None:
    server = await opa_standin(mode="slow", delay=5.0)  # type: ignore[operator]
    assert isinstance(server, OPAStandIn)
    engine = OPAEngine(server.url, timeout_seconds=0.2)
    try:
        with pytest.raises(PDPUnavailable, match=r"did not answer within 0\.2s"):
            await engine.evaluate(make_input())
    finally:
        await engine.close()


async def test_refused_connection_is_unavailable() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    engine = OPAEngine(f"http://127.0.0.1:{port}", timeout_seconds=2)
    try:
        with pytest.raises(PDPUnavailable):
            await engine.evaluate(make_input())
    finally:
        await engine.close()


async def test_wrong_decision_path_is_unavailable(opa_standin: Callable[..., object]) -> None:
    server = await opa_standin()  # type: ignore[operator]
    assert isinstance(server, OPAStandIn)
    engine = OPAEngine(server.url, "zonegate/authz/nothing_here", timeout_seconds=5)
    try:
        with pytest.raises(PDPUnavailable, match="undefined"):
            await engine.evaluate(make_input())
    finally:
        await engine.close()


async def test_readiness_probe(opa_standin: Callable[..., object]) -> None:
    from gateway.pdp import CachedEngine, DecisionCache
    from gateway.pdp.port import readiness

    server = await opa_standin()  # type: ignore[operator]
    assert isinstance(server, OPAStandIn)
    ready = OPAEngine(server.url, timeout_seconds=5)
    no_bundle = OPAEngine(server.url, "zonegate/authz/nothing_here", timeout_seconds=5)
    try:
        # through a wrapper, as the gateway holds it
        assert await readiness(CachedEngine(ready, DecisionCache(ttl_seconds=1))) is None
        problem = await readiness(no_bundle)  # OPA up, decision undefined: not ready
        assert problem is not None and "undefined" in problem
        before = server.requests
        assert await readiness(no_bundle) == problem  # answered from the last second
        assert server.requests == before
    finally:
        await ready.close()
        await no_bundle.close()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = OPAEngine(f"http://127.0.0.1:{port}", timeout_seconds=2)
    try:
        assert await readiness(down) is not None
    finally:
        await down.close()


async def test_connections_are_reused(opa_standin: Callable[..., object]) -> None:
    server = await opa_standin()  # type: ignore[operator]
    assert isinstance(server, OPAStandIn)
    engine = OPAEngine(server.url, timeout_seconds=5)
    try:
        for _ in range(20):
            assert (await engine.evaluate(make_input())).allow is True
    finally:
        await engine.close()
    assert server.requests == 20
    assert len(server.connections) == 1


async def test_revision_comes_from_provenance(opa_standin: Callable[..., object]) -> None:
    server = await opa_standin(revision="r-2026-11-25")  # type: ignore[operator]
    assert isinstance(server, OPAStandIn)
    engine = OPAEngine(server.url, timeout_seconds=5)
    try:
        assert engine.revision == "opa:unknown"
        await engine.evaluate(make_input())
        assert engine.revision == "r-2026-11-25"
    finally:
        await engine.close()


@pytest.mark.parametrize(("url", "decision", "timeout"), [
    ("ftp://127.0.0.1:8181", "zonegate/authz/decision", 1.0),
    ("http://127.0.0.1:8181/v1/data", "zonegate/authz/decision", 1.0),
    ("127.0.0.1:8181", "zonegate/authz/decision", 1.0),
    ("http://127.0.0.1:8181", "zonegate/authz/decision", 0.0),
    ("http://127.0.0.1:8181", "zonegate/../decision", 1.0),
    ("http://127.0.0.1:8181", "", 1.0),
])
def test_bad_configuration_is_refused(url: str, decision: str, timeout: float) -> None:
    with pytest.raises(PDPError):
        OPAEngine(url, decision, timeout_seconds=timeout)


async def test_against_real_opa() -> None:
    url = os.environ.get("OPA_URL")
    if not url:
        pytest.skip("OPA_URL is not set: no real OPA server to test against "
                    "(load policies/ into it, e.g. `opa run -s -b build/bundle.tar.gz`)")
    engine = OPAEngine(url, timeout_seconds=2)
    try:
        allowed = await engine.evaluate(make_input())
        denied = await engine.evaluate(make_input(device={"trust": "quarantined"}))
    finally:
        await engine.close()
    assert allowed.allow is True
    assert (denied.allow, denied.reasons) == (False, ("device-quarantined",))
