"""Replay: logged inputs re-decided under a candidate policy, changes listed."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway.pdp import CompiledPolicy, DecisionLog, EmbeddedEngine, LoggedEngine, PDPError
from gateway.pdp.replay import replay
from gateway.pdp.source import load_source
from tests.gateway.pdp.conftest import POLICIES, make_input


async def _log_some(path: Path, registry: CollectorRegistry) -> None:
    engine = LoggedEngine(EmbeddedEngine.from_path(POLICIES), DecisionLog(path, registry=registry))
    await engine.evaluate(make_input())  # doctor reads: allowed
    await engine.evaluate(make_input(subject={"roles": ["nurse"]}))  # allowed
    await engine.evaluate(make_input(request={"method": "PUT"}, subject={"roles": ["nurse"]}))
    await engine.evaluate(make_input(device={"trust": "quarantined"}))  # denied
    await engine.close()


async def test_replay_lists_changes(tmp_path: Path, policy_dir: Path,
                                    registry: CollectorRegistry) -> None:
    log = tmp_path / "d.jsonl"
    await _log_some(log, registry)
    zones = policy_dir / "data" / "zones.json"
    text = zones.read_text()
    text = text.replace('{"roles": ["nurse"], "methods": ["GET"]}',
                        '{"roles": ["nurse"], "methods": ["PUT"]}')
    zones.write_text(text)
    report = replay(log, CompiledPolicy(load_source(policy_dir)))
    assert report.total == 4
    assert [(c.line, c.kind) for c in report.changes] == [(2, "allow->deny"), (3, "deny->allow")]
    assert report.changes[0].detail == "method-not-permitted"


async def test_same_policy_changes_nothing(tmp_path: Path, registry: CollectorRegistry) -> None:
    log = tmp_path / "d.jsonl"
    await _log_some(log, registry)
    report = replay(log, CompiledPolicy(load_source(POLICIES)))
    assert (report.total, report.changes) == (4, ())


@pytest.mark.parametrize(("content", "message"), [
    ('{"input": {}}\nnot json\n', r"d\.jsonl:2: not a JSON event"),
    ('[1, 2]\n', r"d\.jsonl:1: not a decision event"),
    ('{"decision_id": "x"}\n', r"d\.jsonl:1: not a decision event"),
])
def test_malformed_logs_name_the_line(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "d.jsonl").write_text(content)
    with pytest.raises(PDPError, match=message):
        replay(tmp_path / "d.jsonl", CompiledPolicy(load_source(POLICIES)))


def test_missing_log(tmp_path: Path) -> None:
    with pytest.raises(PDPError, match="cannot read"):
        replay(tmp_path / "none.jsonl", CompiledPolicy(load_source(POLICIES)))
