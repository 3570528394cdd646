"""The decision cache: keyed without id/time, TTL, bounded, no errors, emptied on reload."""

from __future__ import annotations

import copy

import pytest
from prometheus_client import CollectorRegistry

from gateway.pdp import CachedEngine, Decision, DecisionCache, PDPError, PDPUnavailable
from gateway.pdp.cache import cache_key
from gateway.pdp.port import JSONObject
from tests.gateway.pdp.conftest import make_input


class CountingEngine:
    """A PolicyEngine double that counts evaluations and can fail or change revision."""

    def __init__(self) -> None:
        self.calls = 0
        self.revision = "r1"
        self.fail = False

    async def evaluate(self, input_doc: JSONObject) -> Decision:
        self.calls += 1
        if self.fail:
            raise PDPUnavailable("down")
        return Decision(allow=True, reasons=(f"call-{self.calls}",))

    async def close(self) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _sample(value: float, registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    return found if found is not None else value


def test_key_ignores_request_id_and_time() -> None:
    a = make_input(request={"id": "1", "time": "2026-11-25T03:00:00Z"})
    b = make_input(request={"id": "2", "time": "2026-11-25T03:00:01Z"})
    c = make_input(request={"id": "1", "method": "POST"})
    assert cache_key(a) == cache_key(b)
    assert cache_key(a) != cache_key(c)
    before = copy.deepcopy(a)
    cache_key(a)
    assert a == before  # the input is not modified


async def test_hits_expire_after_ttl(registry: CollectorRegistry) -> None:
    clock = Clock()
    inner = CountingEngine()
    engine = CachedEngine(inner, DecisionCache(ttl_seconds=2, registry=registry, clock=clock))
    first = await engine.evaluate(make_input(request={"id": "a"}))
    again = await engine.evaluate(make_input(request={"id": "b"}))
    assert first == again and inner.calls == 1
    clock.now += 2.5
    assert (await engine.evaluate(make_input())).reasons == ("call-2",)
    assert engine.cache.hit_ratio == pytest.approx(1 / 3)
    assert registry.get_sample_value("zonegate_pdp_cache_hit_ratio") == pytest.approx(1 / 3)
    assert registry.get_sample_value("zonegate_pdp_cache_lookups_total", {"result": "hit"}) == 1


async def test_bounded_lru(registry: CollectorRegistry) -> None:
    inner = CountingEngine()
    engine = CachedEngine(inner, DecisionCache(max_entries=2, registry=registry))
    for risk in (1, 2, 3):
        await engine.evaluate(make_input(context={"risk": risk}))
    assert len(engine.cache) == 2
    await engine.evaluate(make_input(context={"risk": 1}))  # evicted: evaluated again
    assert inner.calls == 4
    assert registry.get_sample_value("zonegate_pdp_cache_entries") == 2


async def test_errors_are_not_cached(registry: CollectorRegistry) -> None:
    inner = CountingEngine()
    engine = CachedEngine(inner, DecisionCache(registry=registry))
    inner.fail = True
    for _ in range(2):
        with pytest.raises(PDPUnavailable):
            await engine.evaluate(make_input())
    inner.fail = False
    assert (await engine.evaluate(make_input())).allow is True
    assert inner.calls == 3


async def test_emptied_when_revision_changes(registry: CollectorRegistry) -> None:
    inner = CountingEngine()
    engine = CachedEngine(inner, DecisionCache(registry=registry))
    await engine.evaluate(make_input())
    await engine.evaluate(make_input())
    inner.revision = "r2"
    assert (await engine.evaluate(make_input())).reasons == ("call-2",)
    assert inner.calls == 2


async def test_unserialisable_input_goes_to_the_engine(registry: CollectorRegistry) -> None:
    inner = CountingEngine()
    engine = CachedEngine(inner, DecisionCache(registry=registry))
    await engine.evaluate({"bad": float("nan")})
    await engine.evaluate({"bad": float("nan")})
    assert inner.calls == 2 and len(engine.cache) == 0


@pytest.mark.parametrize(("ttl", "size"), [(0, 10), (-1, 10), (1, 0)])
def test_bad_settings(ttl: float, size: int, registry: CollectorRegistry) -> None:
    with pytest.raises(PDPError):
        DecisionCache(ttl_seconds=ttl, max_entries=size, registry=registry)
