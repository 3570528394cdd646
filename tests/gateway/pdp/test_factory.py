"""`build_engine` / `build_pdp`: what the ingress gateway constructs."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway.config import PolicyConfig
from gateway.pdp import (
    CachedEngine,
    EmbeddedEngine,
    LoggedEngine,
    OPAEngine,
    PolicyLoadError,
    build_engine,
    build_pdp,
)
from tests.gateway.pdp.conftest import POLICIES, VECTORS, make_input


def test_build_engine_chooses_the_adapter() -> None:
    assert isinstance(build_engine(PolicyConfig(bundle=POLICIES)), EmbeddedEngine)
    assert isinstance(build_engine(PolicyConfig(engine="opa")), OPAEngine)


def test_build_engine_refuses_a_policy_whose_tests_fail() -> None:
    with pytest.raises(PolicyLoadError, match="policy test"):
        build_engine(PolicyConfig(bundle=VECTORS / "policies" / "failing_test"))


async def test_build_pdp_stacks_log_over_cache(tmp_path: Path,
                                               registry: CollectorRegistry) -> None:
    pdp = build_pdp(PolicyConfig(bundle=POLICIES), decision_log=tmp_path / "d.jsonl",
                    registry=registry)
    assert isinstance(pdp.engine, LoggedEngine)
    assert isinstance(pdp.engine.inner, CachedEngine)
    assert pdp.reloader is not None and pdp.cache is not None and pdp.log is not None
    await pdp.start()
    first = await pdp.engine.evaluate(make_input(request={"id": "1"}))
    second = await pdp.engine.evaluate(make_input(request={"id": "2"}))
    await pdp.close()
    assert first.allow and second.allow
    assert first.decision_id != second.decision_id  # cached, but its own log event and id
    assert pdp.cache.hits == 1
    assert len((tmp_path / "d.jsonl").read_text().splitlines()) == 2


async def test_build_pdp_for_opa_has_no_reloader(registry: CollectorRegistry) -> None:
    pdp = build_pdp(PolicyConfig(engine="opa"), cache_ttl_seconds=None, registry=registry)
    assert isinstance(pdp.engine, OPAEngine) and pdp.reloader is None
    await pdp.close()
