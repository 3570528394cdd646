"""`zonegate audit verify`: exit 0 intact, 1 tampered naming the line, 2 unreadable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gateway.audit import AuditLog


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from gateway.cli import main; sys.exit(main())",
         *args], capture_output=True, text=True, timeout=60)


def _log(path: Path) -> None:
    log = AuditLog.open(path)
    for i in range(4):
        log.append_sync("request", {"i": i})
    log.close()


def test_intact(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _log(path)
    result = run("audit", "verify", str(path))
    assert result.returncode == 0, result.stderr
    assert "5 record(s), chain intact" in result.stdout


def test_tampered_names_line_exit_1(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _log(path)
    lines = path.read_bytes().splitlines(keepends=True)
    del lines[1]
    path.write_bytes(b"".join(lines))
    result = run("audit", "verify", str(path))
    assert result.returncode == 1
    assert f"{path}:2:" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_unreadable_exit_2(tmp_path: Path) -> None:
    result = run("audit", "verify", str(tmp_path / "missing.jsonl"))
    assert result.returncode == 2
    assert "cannot read" in result.stderr and "Traceback" not in result.stderr
