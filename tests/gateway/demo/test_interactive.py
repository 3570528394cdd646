"""`zonegate demo` without --smoke: the printed commands work as pasted, Ctrl-C stops all."""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from tests.gateway.demo.test_smoke import ZONEGATE, _processes_mentioning

_STARTUP_DEADLINE = 240.0  # generous: a deadline for a hung demo, not a speed claim


def _read_until(proc: subprocess.Popen[str], marker: str) -> list[str]:
    """The demo's output lines up to `marker` (read by a thread: readline blocks)."""
    assert proc.stdout is not None
    stdout = proc.stdout
    lines: list[str] = []
    seen = threading.Event()

    def read() -> None:
        for line in stdout:
            lines.append(line.rstrip("\n"))
            if marker in line:
                seen.set()
                return
        seen.set()  # end of output: the demo exited

    threading.Thread(target=read, daemon=True).start()
    if not seen.wait(_STARTUP_DEADLINE) or not any(marker in line for line in lines):
        raise AssertionError("the demo never said it was running:\n" + "\n".join(lines))
    return list(lines)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_printed_commands_work_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = subprocess.Popen([*ZONEGATE, "demo", "--ephemeral-ports", "--state-dir", str(state)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = _read_until(proc, "Ctrl-C stops everything")
        output = "\n".join(lines)
        assert "FAIL" not in output, output
        assert "doctor-demo-password" in output  # users and passwords are shown

        # paste the doctor's two lines (token from the IdP, then the request) into a shell
        doctor = [line for line in lines if "DOCTOR" in line]
        assert len(doctor) == 2, output
        shell = subprocess.run(["bash", "-c", "\n".join(doctor)], capture_output=True,
                               text=True, timeout=60)
        assert "110105198001010024" in shell.stdout, shell.stdout + shell.stderr

        camera = [line for line in lines if line.startswith("curl") and "cam-13" in line]
        assert len(camera) == 1, output
        shell = subprocess.run(["bash", "-c", camera[0]], capture_output=True, text=True,
                               timeout=60)
        assert "device-quarantined" in shell.stdout, shell.stdout + shell.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rest, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, rest
    assert "stopping" in rest
    assert _processes_mentioning(str(state)) == []
    assert (state / "audit.jsonl").is_file()  # an interactive run keeps its state
