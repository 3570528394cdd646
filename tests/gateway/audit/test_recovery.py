"""Crash recovery: a torn tail is cut and noted, the chain continues, kill -9 loses at most
what was not yet acknowledged."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.audit import AuditError, AuditLog, Recovery, verify_log


def _records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def test_clean_reopen_needs_no_recovery(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    AuditLog.open(path).close()
    log = AuditLog.open(path)
    assert log.recovery is None
    log.close()
    assert [r["kind"] for r in _records(path)] == ["shutdown", "shutdown"]


def test_torn_tail_is_cut_and_recorded(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    log = AuditLog.open(path)
    for i in range(3):
        log.append_sync("request", {"i": i})
    # simulate a crash: no shutdown record, and half a record at the end
    os.close(log._fd)  # the writer thread is idle; the process "dies" here
    torn = b'{"event":{"i":3},"hash":"ab'
    with path.open("ab") as handle:
        handle.write(torn)
    seen: list[Recovery] = []
    reopened = AuditLog.open(path, on_recovery=seen.append)
    reopened.append_sync("request", {"i": 4})
    reopened.close()
    assert seen == [Recovery(last_seq=3, torn_bytes=len(torn),
                             torn_sha256=hashlib.sha256(torn).hexdigest())]
    records = _records(path)
    assert [r["kind"] for r in records] == ["request"] * 3 + ["recovery", "request", "shutdown"]
    assert records[3]["event"]["torn_bytes"] == len(torn)
    report = verify_log(path)
    assert (report.records, report.recoveries, report.torn_tail) == (6, 1, False)


def test_whole_record_missing_only_its_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    log = AuditLog.open(path)
    log.append_sync("request", {"i": 0})
    os.close(log._fd)
    path.write_bytes(path.read_bytes()[:-1])  # the newline never made it
    reopened = AuditLog.open(path)
    reopened.close()
    records = _records(path)
    assert [r["kind"] for r in records] == ["request", "recovery", "shutdown"]
    assert records[1]["event"]["torn_bytes"] == 0
    assert verify_log(path).records == 3


def test_corrupt_last_complete_record_refuses_to_append(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    AuditLog.open(path).close()
    path.write_bytes(path.read_bytes().replace(b"shutdown", b"shutdowN"))
    with pytest.raises(AuditError, match="audit verify"):
        AuditLog.open(path)


WRITER = """
import sys
from pathlib import Path
from gateway.audit import AuditLog
log = AuditLog.open(Path(sys.argv[1]), sync=sys.argv[2])
i = 0
while True:
    seq = log.append_sync("request", {"i": i, "pad": "x" * 200})
    print(seq, flush=True)
    i += 1
"""


@pytest.mark.parametrize("sync", ["background", "group", "always"])
def test_kill_9_loses_nothing_acknowledged(tmp_path: Path, sync: str) -> None:
    path = tmp_path / "a.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), sync],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    acknowledged = 0
    for line in proc.stdout:
        acknowledged = int(line)
        if acknowledged >= 200:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    seen: list[Recovery] = []
    log = AuditLog.open(path, on_recovery=seen.append)
    log.close()
    assert len(seen) == 1 and seen[0].last_seq >= acknowledged
    report = verify_log(path)
    assert report.recoveries == 1
    kinds = [r["kind"] for r in _records(path)]
    assert kinds[-2:] == ["recovery", "shutdown"]
    assert kinds.count("request") >= acknowledged
