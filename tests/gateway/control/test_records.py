"""Decisions search, the change audit, and the gateway audit log's hash chain (verify and
export) over real HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.audit import AuditLog
from gateway.audit.checkpointer import start_checkpoints
from gateway.store import DecisionRecord
from tests.gateway.control.conftest import Stack
from tests.gateway.control.test_access import assert_problem

BASE = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def decisions(stack: Stack) -> list[DecisionRecord]:
    rows = [
        DecisionRecord(decision_id=f"dec-{n}", time=BASE + timedelta(minutes=n),
                       subject=subject, device=device, zone=zone, method="GET",
                       path=f"/zones/{zone}/records/{n}", allow=allow, reasons=reasons,
                       level="L2")
        for n, (subject, device, zone, allow, reasons) in enumerate([
            ("doctor", None, "health", True, ()),
            ("doctor", "cam-13", "health", False, ("device-quarantined",)),
            ("engineer", None, "transport", True, ()),
            ("engineer", None, "health", False, ("zone-not-permitted",)),
            ("anonymous", "cam-14", "open", False, ("unauthenticated",)),
        ])
    ]
    assert stack.store.decisions.record_many(rows) == len(rows)
    return rows


@pytest.mark.parametrize(("params", "expected"), [
    ({}, ["dec-4", "dec-3", "dec-2", "dec-1", "dec-0"]),
    ({"subject": "doctor"}, ["dec-1", "dec-0"]),
    ({"device": "cam-13"}, ["dec-1"]),
    ({"zone": "health", "allow": False}, ["dec-3", "dec-1"]),
    ({"reason": "unauthenticated"}, ["dec-4"]),
    ({"since": "2026-11-25T08:02:00Z", "until": "2026-11-25T08:04:00Z"}, ["dec-3", "dec-2"]),
    ({"path_prefix": "/zones/transport/"}, ["dec-2"]),
])
def test_decision_search(stack: Stack, decisions: list[DecisionRecord],
                         params: dict[str, Any], expected: list[str]) -> None:
    page = stack.client("analyst").get("/api/decisions", params=params).json()
    assert [d["decision_id"] for d in page["items"]] == expected


def test_decision_pages_and_lookup(stack: Stack, decisions: list[DecisionRecord]) -> None:
    analyst = stack.client("analyst")
    first = analyst.get("/api/decisions", params={"limit": 3}).json()
    second = analyst.get("/api/decisions", params={"limit": 3,
                                                   "cursor": first["next_cursor"]}).json()
    ids = [d["decision_id"] for d in first["items"] + second["items"]]
    assert ids == ["dec-4", "dec-3", "dec-2", "dec-1", "dec-0"] and second["next_cursor"] is None
    one = analyst.get("/api/decisions/dec-1").json()
    assert one["reasons"] == ["device-quarantined"] and one["allow"] is False
    assert_problem(analyst.get("/api/decisions/nope"), 404, "not-found")
    assert_problem(analyst.get("/api/decisions", params={"allow": "perhaps"}), 422)


def test_change_audit_lists_who_did_what(stack: Stack) -> None:
    officer = stack.client("officer")
    officer.put("/api/devices/cam-14/trust", json={"trust": "trusted"})
    officer.put("/api/devices/cam-14/trust", json={"trust": "unknown"})
    rows = officer.get("/api/audit/changes", params={"target": "device:cam-14",
                                                     "limit": 2}).json()
    assert [r["actor"] for r in rows["items"]] == ["officer", "officer"]
    assert all(r["action"] == "device.trust" for r in rows["items"])
    assert datetime.fromisoformat(rows["items"][0]["at"]) >= datetime.fromisoformat(
        rows["items"][1]["at"])
    assert_problem(stack.client("analyst").get("/api/audit/changes"), 403)


def test_audit_log_verify_export_and_tamper(stack: Stack) -> None:
    officer = stack.client("officer")
    report = officer.get("/api/audit/log/verify").json()
    assert report["intact"] is True and report["records"] >= 3 and report["head"]
    exported = officer.get("/api/audit/log/export")
    original = stack.audit_log.read_bytes()
    assert exported.content == original
    assert exported.headers["content-type"] == "application/x-ndjson"
    lines = original.splitlines(keepends=True)
    record = json.loads(lines[1])
    record["event"]["path"] = "/zones/open/forged"
    forged = json.dumps(record, separators=(",", ":")).encode() + b"\n"
    stack.audit_log.write_bytes(b"".join([lines[0], forged, *lines[2:]]))
    try:
        broken = officer.get("/api/audit/log/verify").json()
        assert broken["intact"] is False and "2" in (broken["problem"] or "")
    finally:
        stack.audit_log.write_bytes(original)
    assert officer.get("/api/audit/log/verify").json()["intact"] is True


def _anchor(stack: Stack, *, file: bool, store: bool) -> None:
    """Append to the stack's audit log and checkpoint its tip the way a gateway does."""
    log = AuditLog.open(stack.audit_log, sync="group")
    checkpointer = start_checkpoints(
        log, file=None if file else stack.audit_log.with_name("elsewhere.checkpoints"),
        store_audit=stack.store.audit if store else None, interval=3600)
    log.append_sync("request", {"path": "/zones/open/anchored"})
    checkpointer.close()  # the final checkpoint sees the last request
    log.close()


@pytest.mark.parametrize("where", ["file", "store"])
def test_audit_log_verify_detects_a_cut_tail_from_checkpoints(stack: Stack, where: str) -> None:
    officer = stack.client("officer")
    beside = stack.audit_log.with_name(stack.audit_log.name + ".checkpoints")
    _anchor(stack, file=where == "file", store=where == "store")
    anchored_log = stack.audit_log.read_bytes()  # what the checkpoints vouch for
    try:
        whole = officer.get("/api/audit/log/verify").json()
        anchored = whole["checkpoints"]
        assert whole["intact"] is True and anchored["matched"] >= 1
        assert anchored["latest_seq"] == whole["records"] - 1  # the shutdown record follows
        assert anchored["unanchored"] == 1
        assert (str(beside) in anchored["sources"]) is (where == "file")
        # the last two records (the anchored request and the shutdown) deleted: the chain
        # itself is still intact, only the checkpoint can tell
        lines = stack.audit_log.read_bytes().splitlines(keepends=True)
        stack.audit_log.write_bytes(b"".join(lines[:-2]))
        cut = officer.get("/api/audit/log/verify").json()
        assert cut["intact"] is False and cut["records"] == whole["records"] - 2
        assert "were deleted" in cut["problem"]
    finally:
        # the store's checkpoints stay (its change audit is append-only): leave the log
        # as they saw it, so later tests find it intact
        stack.audit_log.write_bytes(anchored_log)
        beside.unlink(missing_ok=True)
    assert officer.get("/api/audit/log/verify").json()["intact"] is True


def test_audit_log_verify_refuses_an_unreadable_checkpoint_file(stack: Stack) -> None:
    beside = stack.audit_log.with_name(stack.audit_log.name + ".checkpoints")
    beside.write_bytes(b"{not a checkpoint}\n")
    try:
        assert_problem(stack.client("officer").get("/api/audit/log/verify"), 503,
                       "audit-unreadable")
    finally:
        beside.unlink()
