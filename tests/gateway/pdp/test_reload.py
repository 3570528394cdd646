"""Hot reload: a tested new policy replaces the old; a broken one never does."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway.pdp import CachedEngine, DecisionCache, EmbeddedEngine, PolicyReloader
from tests.gateway.pdp.conftest import make_input


def _touch_later(path: Path) -> None:
    # mtime resolution can be coarse: make sure the fingerprint changes
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    _touch_later(path)


def _metric(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_unchanged_bundle_is_not_reloaded(policy_dir: Path,
                                                registry: CollectorRegistry) -> None:
    engine = EmbeddedEngine.from_path(policy_dir)
    reloader = PolicyReloader(engine, policy_dir, registry=registry)
    assert await reloader.check() is False
    assert len(reloader.history) == 1


async def test_good_change_is_activated(policy_dir: Path, registry: CollectorRegistry) -> None:
    engine = EmbeddedEngine.from_path(policy_dir)
    cached = CachedEngine(engine, DecisionCache(ttl_seconds=60, registry=registry))
    reloader = PolicyReloader(engine, policy_dir, registry=registry)
    parks = make_input(request={"path": "/zones/parks/benches"},
                       resource={"zone": "parks", "level": "L1", "path": "/benches"})
    assert (await cached.evaluate(parks)).reasons == ("zone-not-permitted",)
    old = engine.revision
    _edit(policy_dir / "data" / "zones.json", '\n  "open": {',
          '\n  "parks": {"level": "L1", "sources": ["*"], "admit_unmanaged": true, '
          '"max_risk": 50, "grants": [{"any_authenticated": true, "methods": ["GET"]}]},'
          '\n  "open": {')
    assert await reloader.check() is True
    assert engine.revision != old
    assert [a.revision for a in reloader.history] == [old, engine.revision]
    assert (await cached.evaluate(parks)).allow is True  # cache emptied by the reload
    assert _metric(registry, "zonegate_pdp_policy_reloads_total", result="success") == 1
    assert _metric(registry, "zonegate_pdp_policy_info", revision=engine.revision) == 1
    assert _metric(registry, "zonegate_pdp_policy_info", revision=old) is None


@pytest.mark.parametrize(("file", "old", "new", "why"), [
    ("authz.rego", "default allow := false", "default allow := ", "authz.rego:"),
    ("authz.rego", 'allow if {\n\t_authenticated', 'allow if {\n\tfoo.bar(1)\n\t_authenticated',
     "unknown builtin function foo.bar"),
    ("authz.rego", '"method-not-permitted" if {\n\tcount(_grants) > 0',
     '"method-not-permitted" if {\n\tcount(_grants) > 100', "policy test(s) failed"),
    ("data/zones.json", '"level": "L4"', '"level": L4', "invalid JSON"),
    ("authz.rego", "decision := {", "decisions := {", "no rule data.zonegate.authz.decision"),
    # regorus would parse this for hours, holding the reloader's thread
    ("authz.rego", "default allow := false",
     "default allow := false\n\n_deep := " + "[" * 22 + "1" + "]" * 22, "too deeply"),
], ids=["syntax", "unknown-builtin", "failing-tests", "bad-data", "entrypoint-removed",
        "nested-literals"])
async def test_broken_change_never_replaces_the_policy(
        policy_dir: Path, registry: CollectorRegistry, file: str, old: str, new: str,
        why: str) -> None:
    engine = EmbeddedEngine.from_path(policy_dir)
    reloader = PolicyReloader(engine, policy_dir, registry=registry)
    before = engine.revision
    _edit(policy_dir / file, old, new)
    assert await reloader.check() is False
    assert engine.revision == before
    assert reloader.last_error is not None and why in reloader.last_error
    assert (await engine.evaluate(make_input())).allow is True
    assert _metric(registry, "zonegate_pdp_policy_reloads_total", result="failure") == 1
    assert await reloader.check() is False  # the same broken state is not retried


async def test_fix_after_failure_is_activated(policy_dir: Path,
                                              registry: CollectorRegistry) -> None:
    engine = EmbeddedEngine.from_path(policy_dir)
    reloader = PolicyReloader(engine, policy_dir, registry=registry)
    _edit(policy_dir / "authz.rego", "default allow := false", "default allow := ")
    assert await reloader.check() is False
    _edit(policy_dir / "authz.rego", "default allow := ", "default allow := false")
    assert await reloader.check() is True
    assert reloader.last_error is None


async def test_background_task_starts_and_stops(policy_dir: Path,
                                                registry: CollectorRegistry) -> None:
    engine = EmbeddedEngine.from_path(policy_dir)
    reloader = PolicyReloader(engine, policy_dir, interval_seconds=0.05, registry=registry)
    task = reloader.start()
    assert not task.done()
    await reloader.stop()
    assert task.cancelled()


async def test_deeply_nested_data_is_refused_and_polling_goes_on(
        policy_dir: Path, registry: CollectorRegistry) -> None:
    # once, a RecursionError out of the JSON reader ended the reload task for good
    engine = EmbeddedEngine.from_path(policy_dir)
    reloader = PolicyReloader(engine, policy_dir, registry=registry)
    deep = policy_dir / "data" / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    before = engine.revision
    assert await reloader.check() is False
    assert reloader.last_error is not None and "nested too deeply" in reloader.last_error
    assert engine.revision == before
    deep.unlink()
    _edit(policy_dir / "data" / "zones.json", '"level": "L4"', '"level": "L4" ')
    assert await reloader.check() is True  # still polling: the next change is activated


async def test_an_unforeseen_failure_does_not_end_polling(
        policy_dir: Path, registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = EmbeddedEngine.from_path(policy_dir)
    reloader = PolicyReloader(engine, policy_dir, interval_seconds=0.01, registry=registry)
    calls = 0

    async def flaky() -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise MemoryError("simulated")
        return False

    monkeypatch.setattr(reloader, "check", flaky)
    task = reloader.start()
    for _ in range(500):  # polls, bounded
        if calls >= 3:
            break
        await asyncio.sleep(0.01)
    await reloader.stop()
    assert calls >= 3 and task.cancelled()
    assert reloader.last_error is not None and "MemoryError" in reloader.last_error
    assert _metric(registry, "zonegate_pdp_policy_reloads_total", result="failure") == 1
