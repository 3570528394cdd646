"""The audit hash chain: appends verify, every kind of tampering is caught at its line."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.audit import AuditLog, AuditTampered, AuditUnreadable, verify_log
from gateway.audit.chain import GENESIS


def _write_log(path: Path, n: int = 5) -> list[bytes]:
    log = AuditLog.open(path)
    for i in range(n):
        log.append_sync("request", {"i": i, "path": f"/zones/health/{i}", "who": "张三"})
    log.close()
    return path.read_bytes().splitlines(keepends=True)


def test_clean_log_verifies(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    lines = _write_log(path, 5)
    report = verify_log(path)
    assert report.records == len(lines) == 6  # five requests and the shutdown record
    assert report.head == json.loads(lines[-1])["hash"]
    assert report.head != GENESIS
    assert (report.recoveries, report.torn_tail) == (0, False)


def test_empty_log_verifies(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"")
    report = verify_log(path)
    assert (report.records, report.head) == (0, GENESIS)


def _edit_event(lines: list[bytes]) -> list[bytes]:
    record = json.loads(lines[2])
    record["event"]["path"] = "/zones/health/other"
    lines[2] = json.dumps(record, separators=(",", ":")).encode() + b"\n"
    return lines


def _edit_and_rehash(lines: list[bytes]) -> list[bytes]:
    # an editor who recomputes the edited record's own hash still breaks the next link
    from gateway.audit.chain import seal

    record = json.loads(lines[2])
    lines[2], _ = seal(record["seq"], record["time"], record["kind"], record["prev"],
                       {**record["event"], "path": "/zones/transport/x"})
    return lines


def _swap(lines: list[bytes]) -> list[bytes]:
    lines[2], lines[3] = lines[3], lines[2]
    return lines


def _duplicate(lines: list[bytes]) -> list[bytes]:
    return [*lines[:3], lines[2], *lines[3:]]


def _garbage(lines: list[bytes]) -> list[bytes]:
    lines[2] = b"{not json\n"
    return lines


def _extra_field(lines: list[bytes]) -> list[bytes]:
    record = json.loads(lines[2])
    record["note"] = "x"
    lines[2] = json.dumps(record).encode() + b"\n"
    return lines


TAMPERING: list[tuple[str, Callable[[list[bytes]], list[bytes]], int, str]] = [
    ("edited field", _edit_event, 3, "does not match its hash"),
    ("edited and rehashed", _edit_and_rehash, 4, "chain broken"),
    ("deleted record", lambda ls: ls[:2] + ls[3:], 3, "deleted or moved"),
    ("deleted first record", lambda ls: ls[1:], 1, "deleted or moved"),
    ("reordered records", _swap, 3, "deleted or moved"),
    ("duplicated record", _duplicate, 4, "reordered or duplicated"),
    ("garbage line", _garbage, 3, "not a JSON record"),
    ("extra field", _extra_field, 3, "wrong fields"),
]


@pytest.mark.parametrize(("name", "tamper", "line", "reason"), TAMPERING,
                         ids=[t[0] for t in TAMPERING])
def test_tampering_names_first_bad_line(
    tmp_path: Path, name: str, tamper: Callable[[list[bytes]], list[bytes]], line: int,
    reason: str,
) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"".join(tamper(_write_log(path))))
    with pytest.raises(AuditTampered) as caught:
        verify_log(path)
    assert caught.value.line == line, name
    assert reason in caught.value.reason


def test_torn_last_line_is_reported_not_tamper(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    lines = _write_log(path)
    path.write_bytes(b"".join(lines) + lines[1][:40])
    report = verify_log(path)
    assert report.torn_tail is True
    assert report.records == len(lines)


@pytest.mark.parametrize("make", ["missing", "directory"])
def test_unreadable_input(tmp_path: Path, make: str) -> None:
    path = tmp_path / "audit.jsonl"
    if make == "directory":
        path.mkdir()
    with pytest.raises(AuditUnreadable):
        verify_log(path)


def test_not_serialisable_event_fails_only_that_append(tmp_path: Path) -> None:
    log = AuditLog.open(tmp_path / "a.jsonl")
    try:
        from gateway.audit import AuditWriteError

        with pytest.raises(AuditWriteError, match="JSON"):
            log.append_sync("request", {"bad": float("nan")})
        assert log.append_sync("request", {"ok": 1}) == 1
        assert log.healthy
    finally:
        log.close()
    assert verify_log(tmp_path / "a.jsonl").records == 2


@pytest.mark.parametrize("sync", ["background", "group", "always", "off"])
def test_concurrent_appends_keep_one_chain(tmp_path: Path, sync: str) -> None:
    import concurrent.futures

    path = tmp_path / "audit.jsonl"
    log = AuditLog.open(path, sync=sync)  # type: ignore[arg-type]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        seqs = list(pool.map(lambda i: log.append_sync("request", {"i": i}), range(400)))
    log.close()
    assert sorted(seqs) == list(range(1, 401))
    assert verify_log(path).records == 401


def test_progress_reports_bytes_read(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog.open(path, sync="off")
    for i in range(5000):
        log.submit("request", {"i": i})
    log.close()
    seen: list[int] = []
    report = verify_log(path, seen.append)
    assert report.records == 5001
    assert len(seen) == 1 and 0 < seen[0] < path.stat().st_size


@pytest.mark.parametrize(("sync", "durable_on_return"),
                         [("group", True), ("always", True), ("off", True),
                          ("background", False)])
def test_durable_seq_follows_the_sync_mode(tmp_path: Path, sync: str,
                                           durable_on_return: bool) -> None:
    log = AuditLog.open(tmp_path / "a.jsonl", sync=sync)  # type: ignore[arg-type]
    try:
        seq = log.append_sync("request", {"i": 1})
        if durable_on_return:
            assert log.durable_seq == seq
        # background: the fsync thread catches up without a further append (polled)
        deadline = time.monotonic() + 30
        while log.durable_seq < seq and time.monotonic() < deadline:
            time.sleep(0.001)
        assert log.durable_seq == seq
    finally:
        log.close()
    assert log.durable_seq == seq + 1  # the shutdown record


def _close_within(log: AuditLog, seconds: float) -> None:
    """close() on a daemon thread, so that a hung writer fails the test, not the run."""
    import threading

    closer = threading.Thread(target=log.close, daemon=True)
    closer.start()
    closer.join(seconds)
    assert not closer.is_alive(), "AuditLog.close() hung"


async def test_cancelled_waiters_neither_stop_the_writer_nor_lose_records(
        tmp_path: Path) -> None:
    # A waiter cancelled mid-append (client gone, shutdown) used to make the writer thread
    # die on InvalidStateError: every later append then hung and close() never returned.
    import asyncio

    path = tmp_path / "a.jsonl"
    log = AuditLog.open(path, sync="group")
    tasks = [asyncio.ensure_future(log.append("request", {"i": i})) for i in range(2000)]
    await asyncio.sleep(0)  # queued, most still waiting for the writer
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    async with asyncio.timeout(30):
        assert await log.append("request", {"after": True}) == 2001
    assert log.healthy
    _close_within(log, 30)
    assert verify_log(path).records == 2002  # every cancelled caller's record is there


def test_cancelled_thread_waiter_leaves_its_record(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    log = AuditLog.open(path, sync="group")
    futures = [log.submit("request", {"i": i}) for i in range(2000)]
    for future in futures:
        future.cancel()
    assert log.submit("request", {"after": True}).result(timeout=30) == 2001
    _close_within(log, 30)
    assert all(f.cancelled() or f.result() == i + 1 for i, f in enumerate(futures))
    assert verify_log(path).records == 2002


class _Exploding(dict[str, object]):
    """A mapping whose serialisation raises what `seal` does not expect (a bug's stand-in)."""

    def items(self):  # type: ignore[override]
        raise RuntimeError("boom")


async def test_an_unexpected_writer_error_fails_closed_and_never_hangs(
        tmp_path: Path) -> None:
    import asyncio

    from gateway.audit import AuditWriteError

    log = AuditLog.open(tmp_path / "a.jsonl", sync="group")
    try:
        assert await log.append("request", {"ok": 1}) == 1
        async with asyncio.timeout(30):
            with pytest.raises(AuditWriteError, match="writer failed"):
                await log.append("request", {"nested": _Exploding(x=1)})
        assert not log.healthy  # the gateway answers 503 from here on
        with pytest.raises(AuditWriteError):
            await log.append("request", {"ok": 2})
    finally:
        _close_within(log, 30)
    assert verify_log(tmp_path / "a.jsonl").records == 1
