"""Checkpoints anchor the chain's tail: a cut tail, a rewritten tail and bad checkpoint
sources are caught by `zonegate audit verify`; rotation causes no false alarm.

Real files, a real SQLite store (migrated as the gateway's), the real CLI in a process.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.audit import (
    AuditCheckpointer,
    AuditLog,
    CheckpointFile,
    StoreCheckpoints,
    read_checkpoint_file,
    verify_log,
)
from gateway.audit.chain import seal
from gateway.audit.checkpoint import ACTION, ACTOR
from gateway.audit.checkpointer import start_checkpoints
from gateway.store import Store


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from gateway.cli import main; sys.exit(main())",
         *args], capture_output=True, text=True, timeout=60)


def poll(condition: object, limit: float = 10.0) -> None:
    """Wait until `condition()` holds (the limit only bounds a hang)."""
    assert callable(condition)
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition never held")
        time.sleep(0.01)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path / 'zonegate.db'}")
    opened.migrate()
    yield opened
    opened.close()


def write_log(path: Path, records: int = 6, *, store: Store | None = None,
              checkpoints: Path | None = None) -> Path:
    """A log of `records` requests and a shutdown, checkpointed after each append."""
    cp_file = checkpoints or path.with_name(path.name + ".checkpoints")
    log = AuditLog.open(path, sync="group")
    sinks: list[CheckpointFile | StoreCheckpoints] = [CheckpointFile(cp_file)]
    if store is not None:
        sinks.append(StoreCheckpoints(store.audit))
    checkpointer = AuditCheckpointer(log, sinks, interval=3600)
    for i in range(records):
        log.append_sync("request", {"i": i})
        checkpointer.checkpoint()
    log.close()
    checkpointer.close()
    return cp_file


def cut_tail(path: Path, n: int) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-n]))


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    return result.stderr


# --- the writer side -----------------------------------------------------------------

@pytest.mark.parametrize("sync", ["background", "group", "always", "off"])
def test_tip_is_one_durable_record(tmp_path: Path, sync: str) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog.open(path, sync=sync)  # type: ignore[arg-type]
    assert log.tip == (0, "0" * 64) and log.chain is None
    for i in range(50):
        log.append_sync("request", {"i": i})
        tip = log.tip
        assert tip.seq <= i + 1
        lines = path.read_bytes().splitlines()
        if tip.seq:  # the pair names one record that is in the file
            record = json.loads(lines[tip.seq - 1])
            assert (record["seq"], record["hash"]) == tuple(tip)
    poll(lambda: log.tip.seq == 50)
    first = json.loads(path.read_bytes().splitlines()[0])
    assert log.chain == first["hash"]
    log.close()
    assert log.tip.seq == 51  # the shutdown record
    reopened = AuditLog.open(path)
    assert reopened.chain == first["hash"] and reopened.tip == log.tip
    reopened.close()


def test_checkpointer_writes_only_when_the_tip_moved_and_a_final_one(tmp_path: Path,
                                                                     store: Store) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog.open(path, sync="background")
    checkpointer = start_checkpoints(log, file=None, store_audit=store.audit, interval=0.02)
    cp_file = tmp_path / "audit.jsonl.checkpoints"
    assert stat.S_IMODE(os.stat(cp_file).st_mode) == 0o600
    for i in range(3):
        log.append_sync("request", {"i": i})
    poll(lambda: any(c.seq == 3 for c in read_checkpoint_file(cp_file)[0]))
    idle = cp_file.read_bytes()
    time.sleep(0.2)  # not waiting for a server: ten idle ticks must add nothing
    assert cp_file.read_bytes() == idle
    log.close()
    checkpointer.close()
    found, torn = read_checkpoint_file(cp_file)
    assert not torn and [c.seq for c in found][-2:] == [3, 4]
    final = found[-1]
    assert final.final and not any(c.final for c in found[:-1])
    last = json.loads(path.read_bytes().splitlines()[-1])
    assert last["kind"] == "shutdown" and (final.seq, final.hash) == (last["seq"], last["hash"])
    assert final.log == str(path.resolve()) and final.pid == os.getpid()
    rows = store.audit.list(action=ACTION).items
    assert rows[0].actor == ACTOR and rows[0].details == final.to_json()


def test_store_failures_are_counted_and_retried(tmp_path: Path) -> None:
    unmigrated = Store.open(f"sqlite:///{tmp_path / 'later.db'}")
    log = AuditLog.open(tmp_path / "audit.jsonl")
    errors: list[str] = []
    checkpointer = start_checkpoints(log, file=None, store_audit=unmigrated.audit,
                                     interval=0.02, errors=errors.append)
    log.append_sync("request", {})
    poll(lambda: len(errors) >= 2)  # every tick tries again, and counts
    assert set(errors) == {"store"}
    assert read_checkpoint_file(tmp_path / "audit.jsonl.checkpoints")[0]  # file unaffected
    unmigrated.migrate()
    poll(lambda: bool(unmigrated.audit.list(action=ACTION).items))
    log.close()
    checkpointer.close()
    assert unmigrated.audit.list(action=ACTION).items[0].details["final"] is True
    unmigrated.close()


def test_checkpoint_file_cuts_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    cp_file = write_log(path, 2)
    whole = cp_file.read_bytes()
    cp_file.write_bytes(whole + b'{"v":1,"log":"/x","cha')
    assert run("audit", "verify", str(path), "--checkpoints", str(cp_file)).returncode == 0
    CheckpointFile(cp_file).close()
    assert cp_file.read_bytes() == whole


def test_unopenable_checkpoint_file_is_a_start_error(tmp_path: Path) -> None:
    from gateway.audit import CheckpointWriteError

    log = AuditLog.open(tmp_path / "audit.jsonl")
    with pytest.raises(CheckpointWriteError, match="cannot open the audit checkpoint file"):
        start_checkpoints(log, file=tmp_path / "missing" / "cp.jsonl", store_audit=None,
                          interval=1)
    log.close()


# --- verify: the tail --------------------------------------------------------------------

@pytest.mark.parametrize("source", ["file", "store"])
def test_intact_log_matches_its_checkpoints(tmp_path: Path, store: Store, source: str) -> None:
    path = tmp_path / "audit.jsonl"
    cp_file = write_log(path, store=store)
    args = ["--checkpoints", str(cp_file)] if source == "file" else ["--store", store.url]
    result = run("audit", "verify", str(path), *args)
    assert result.returncode == 0, result.stderr
    assert "7 record(s), chain intact" in result.stdout
    assert "7 of this chain matched" in result.stdout and "saw seq 7 (final" in result.stdout
    assert "warning:" not in result.stdout


@pytest.mark.parametrize("source", ["file", "store"])
@pytest.mark.parametrize("cut", [1, 3, 7])
def test_cut_tail_is_detected(tmp_path: Path, store: Store, source: str, cut: int) -> None:
    path = tmp_path / "audit.jsonl"
    cp_file = write_log(path, store=store)
    final = read_checkpoint_file(cp_file)[0][-1]
    cut_tail(path, cut)
    args = ["--checkpoints", str(cp_file)] if source == "file" else ["--store", store.url]
    result = run("audit", "verify", str(path), *args)
    if cut == 7:  # nothing left: no record 1, so no chain to bind the checkpoints to
        assert result.returncode == 0
        assert "7 checkpoint(s) name this path but another chain" in result.stdout
        return
    assert result.returncode == 1
    err = one_line_error(result)
    assert f"TAMPERED {path}: records after seq {7 - cut} were deleted: checkpoint at " \
           f"{final.time}" in err
    assert f"saw seq 7 hash {final.hash}" in err
    where = f"{cp_file}:7" if source == "file" else "change_audit row"
    assert where in err
    # without the checkpoints the chain alone still verifies: the gap they close
    alone = run("audit", "verify", str(path))
    assert alone.returncode == 0 and "ends without a shutdown record" in alone.stdout


def test_tail_rewritten_after_a_cut_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    cp_file = write_log(path)
    cut_tail(path, 3)
    last = json.loads(path.read_bytes().splitlines()[-1])
    seq, head, forged = last["seq"], last["hash"], b""
    for kind in ("request", "request", "shutdown"):  # a consistent chain to seq 7 again
        line, head = seal(seq + 1, last["time"], kind, head, {"forged": True})
        seq, forged = seq + 1, forged + line
    with path.open("ab") as handle:
        handle.write(forged)
    assert verify_log(path).records == 7  # the chain alone is fooled
    result = run("audit", "verify", str(path), "--checkpoints", str(cp_file))
    assert result.returncode == 1
    assert "record seq 5 differs from checkpoint at" in one_line_error(result)
    assert f"{cp_file}:5" in result.stderr


def test_edited_checkpoint_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    cp_file = write_log(path, 2)
    lines = cp_file.read_text().splitlines()
    edited = json.loads(lines[0])
    edited["hash"] = "f" * 64
    cp_file.write_text("\n".join([json.dumps(edited), *lines[1:]]) + "\n")
    result = run("audit", "verify", str(path), "--checkpoints", str(cp_file))
    assert result.returncode == 1
    assert f"record seq 1 differs from checkpoint at {edited['time']} ({cp_file}:1)" \
           in one_line_error(result)


@pytest.mark.parametrize(("line", "reason"), [
    ("not json", "not JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"v": 1}', "missing chain, final, hash, host, log, pid, seq, time"),
    ("{good}|v=2", "version 2"),
    ("{good}|seq=0", "seq must be an integer >= 1"),
    ("{good}|seq=true", "seq must be an integer >= 1"),
    ("{good}|hash=ABC", "hash must be 64 lower-case hex digits"),
    ("{good}|log=", "log must be a non-empty string"),
    ("{good}|final=1", "final must be true or false"),
])
def test_malformed_checkpoint_file_is_exit_2_naming_the_line(tmp_path: Path, line: str,
                                                             reason: str) -> None:
    path = tmp_path / "audit.jsonl"
    cp_file = write_log(path, 1)
    good = cp_file.read_text().splitlines()
    if line.startswith("{good}|"):
        key, _, value = line.removeprefix("{good}|").partition("=")
        doc = json.loads(good[0])
        doc[key] = json.loads(value) if value not in ("", "ABC") else value
        line = json.dumps(doc)
    cp_file.write_text("\n".join([*good, line]) + "\n")
    result = run("audit", "verify", str(path), "--checkpoints", str(cp_file))
    assert result.returncode == 2
    err = one_line_error(result)
    assert f"{cp_file}:{len(good) + 1}: not a checkpoint: {reason}" in err


def test_malformed_store_row_and_unmigrated_store_are_exit_2(tmp_path: Path,
                                                             store: Store) -> None:
    path = tmp_path / "audit.jsonl"
    write_log(path, 1, store=store)
    store.audit.record(ACTOR, ACTION, "x", {"v": 1, "seq": "9"})
    result = run("audit", "verify", str(path), "--store", store.url)
    assert result.returncode == 2
    assert "change_audit row 3: not a checkpoint: missing" in one_line_error(result)
    bare = run("audit", "verify", str(path), "--store", f"sqlite:///{tmp_path / 'none.db'}")
    assert bare.returncode == 2 and one_line_error(bare).startswith("zonegate: error:")
    missing = run("audit", "verify", str(path), "--checkpoints", str(tmp_path / "none"))
    assert missing.returncode == 2 and "cannot read" in one_line_error(missing)


# --- verify: what is not tampering ---------------------------------------------------------

def test_no_shutdown_warning_without_checkpoints_and_note_with(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog.open(path)
    checkpointer = AuditCheckpointer(
        log, [CheckpointFile(tmp_path / "cp.jsonl")], interval=3600)
    for i in range(3):
        log.append_sync("request", {"i": i})
    checkpointer.checkpoint()  # the gateway is still running: no shutdown record yet
    result = run("audit", "verify", str(path))
    assert result.returncode == 0
    assert "warning: the log ends without a shutdown record: the gateway is running, was " \
           "killed, or the tail was cut" in result.stdout
    anchored = run("audit", "verify", str(path), "--checkpoints", str(tmp_path / "cp.jsonl"))
    assert anchored.returncode == 0 and "warning:" not in anchored.stdout
    assert "records after seq 3 are not covered by a checkpoint yet" in anchored.stdout
    log.close()
    checkpointer.close()
    closed = run("audit", "verify", str(path))
    assert closed.returncode == 0 and "shutdown record" not in closed.stdout


def test_rotation_causes_no_false_alarm_and_the_old_file_stays_bound(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    shared = tmp_path / "checkpoints.jsonl"
    write_log(path, 4, checkpoints=shared)
    rotated = tmp_path / "audit.jsonl.1"
    path.rename(rotated)
    write_log(path, 2, checkpoints=shared)  # a fresh chain at the same path, shorter
    current = run("audit", "verify", str(path), "--checkpoints", str(shared))
    assert current.returncode == 0, current.stderr
    assert "3 of this chain matched" in current.stdout
    assert "5 checkpoint(s) name this path but another chain" in current.stdout
    old = run("audit", "verify", str(rotated), "--checkpoints", str(shared))
    assert old.returncode == 0 and "5 of this chain matched" in old.stdout
    cut_tail(rotated, 1)  # a checkpoint binds its chain under any file name
    result = run("audit", "verify", str(rotated), "--checkpoints", str(shared))
    assert result.returncode == 1 and "records after seq 4 were deleted" in result.stderr


def test_checkpoints_of_other_chains_elsewhere_are_ignored(tmp_path: Path) -> None:
    other = tmp_path / "other.jsonl"
    other_cp = write_log(other, 9)  # seqs beyond the log we verify, another path
    path = tmp_path / "audit.jsonl"
    write_log(path, 1)
    result = run("audit", "verify", str(path), "--checkpoints", str(other_cp))
    assert result.returncode == 0
    assert "none of the 10 checkpoint(s) read is of this chain" in result.stdout
    assert "name this path" not in result.stdout
