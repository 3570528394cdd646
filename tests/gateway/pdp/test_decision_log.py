"""Decision log: OPA event shape, masking, durable JSONL, rotation, counted drops."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway.pdp import DecisionLog, EmbeddedEngine, LoggedEngine, PDPError, PDPUnavailable
from gateway.pdp.decision_log import mask_event
from tests.gateway.pdp.conftest import POLICIES, VECTORS, make_input


def _events(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_events_have_opa_shape_and_ids(tmp_path: Path, registry: CollectorRegistry) -> None:
    log = DecisionLog(tmp_path / "decisions.jsonl", registry=registry)
    engine = LoggedEngine(EmbeddedEngine.from_path(POLICIES), log)
    doc = make_input(request={"headers": {"authorization": "Bearer secret-token",
                                          "x-break-glass-reason": "bed 4"}})
    decision = await engine.evaluate(doc)
    await engine.close()
    [event] = _events(tmp_path / "decisions.jsonl")
    assert event["decision_id"] == decision.decision_id and len(decision.decision_id) == 36
    assert event["path"] == "zonegate/authz/decision"
    assert event["bundles"] == {"zonegate": {"revision": engine.revision}}
    assert event["result"] == decision.to_result()
    assert str(event["timestamp"]).endswith("Z")
    assert event["erased"] == ["/input/request/headers/authorization"]
    assert "secret-token" not in json.dumps(event)
    assert event["input"]["request"]["headers"] == {"x-break-glass-reason": "bed 4"}  # type: ignore[index]
    assert doc["request"]["headers"]["authorization"] == "Bearer secret-token"  # type: ignore[index]
    assert registry.get_sample_value("zonegate_pdp_decision_log_events_total",
                                     {"result": "written"}) == 1


async def test_errors_are_logged_too(tmp_path: Path, registry: CollectorRegistry) -> None:
    log = DecisionLog(tmp_path / "d.jsonl", registry=registry)
    engine = LoggedEngine(EmbeddedEngine.from_path(VECTORS / "policies" / "runtime_error"), log)
    with pytest.raises(PDPUnavailable):
        await engine.evaluate({"n": "x"})
    await engine.close()
    [event] = _events(tmp_path / "d.jsonl")
    assert "result" not in event
    assert event["error"]["code"] == "pdp_unavailable"  # type: ignore[index]


@pytest.mark.parametrize(("pointers", "erased"), [
    (["/input/a/b"], ["/input/a/b"]),
    (["/input/a/missing", "/input/x/y"], []),
    (["/input/a~1c"], ["/input/a~1c"]),
])
def test_masking(pointers: list[str], erased: list[str]) -> None:
    event = {"input": {"a": {"b": 1, "c": 2}, "a/c": 3}}
    masked = mask_event(event, pointers)  # type: ignore[arg-type]
    assert masked.get("erased", []) == erased
    assert event == {"input": {"a": {"b": 1, "c": 2}, "a/c": 3}}


@pytest.mark.parametrize("pointer", ["input/a", "/result/allow", "/input/"])
def test_bad_mask_pointers_are_refused(tmp_path: Path, pointer: str) -> None:
    with pytest.raises(PDPError, match="JSON pointer under /input/"):
        DecisionLog(tmp_path / "d.jsonl", mask=[pointer])


def test_rotation_keeps_backups(tmp_path: Path, registry: CollectorRegistry) -> None:
    path = tmp_path / "d.jsonl"
    log = DecisionLog(path, max_bytes=300, backups=2, registry=registry)
    for index in range(30):
        assert log.record({"decision_id": str(index), "input": {"pad": "x" * 100}})
    log.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["d.jsonl", "d.jsonl.1", "d.jsonl.2"]
    assert log.written == 30 and log.dropped == 0
    ids = [e["decision_id"] for p in (path.with_name("d.jsonl.1"), path) for e in _events(p)]
    assert ids == sorted(ids, key=int) and ids[-1] == "29"


def test_write_failures_are_counted_and_reported(caplog: pytest.LogCaptureFixture,
                                                 registry: CollectorRegistry) -> None:
    log = DecisionLog(Path("/dev/full"), registry=registry)
    with caplog.at_level(logging.ERROR, logger="gateway.pdp.decision_log"):
        assert log.record({"input": {}})
        log.close()
    assert log.dropped == 1 and log.written == 0
    assert registry.get_sample_value("zonegate_pdp_decision_log_events_total",
                                     {"result": "dropped"}) == 1
    assert "dropped 1 event(s)" in caplog.text


def test_records_after_close_are_dropped_loudly(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture,
                                                registry: CollectorRegistry) -> None:
    log = DecisionLog(tmp_path / "d.jsonl", registry=registry)
    log.close()
    with caplog.at_level(logging.ERROR, logger="gateway.pdp.decision_log"):
        assert log.record({"input": {}}) is False
    assert log.dropped == 1 and "the log is closed" in caplog.text


def test_unwritable_location(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(PDPError, match="cannot open"):
        DecisionLog(tmp_path / "file" / "d.jsonl")


def test_file_is_private(tmp_path: Path, registry: CollectorRegistry) -> None:
    log = DecisionLog(tmp_path / "d.jsonl", registry=registry)
    log.close()
    assert (tmp_path / "d.jsonl").stat().st_mode & 0o077 == 0
