"""The state folder and the demo's refusals: one line, exit 2, nothing touched."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.demo import state
from gateway.demo.errors import PortInUse, StateDirError
from gateway.demo.ports import check_free


def test_a_demo_folder_is_cleared_for_the_next_run(tmp_path: Path) -> None:
    root = state.prepare(tmp_path / "demo-state")
    (root / "audit.jsonl").write_text("old run\n")
    again = state.prepare(root)
    assert again == root
    assert sorted(p.name for p in root.iterdir()) == [state.MARKER]


@pytest.mark.parametrize("content", ["notes.txt", "sub/keep.txt"])
def test_a_foreign_folder_is_refused_and_left_alone(tmp_path: Path, content: str) -> None:
    target = tmp_path / "mine"
    (target / content).parent.mkdir(parents=True, exist_ok=True)
    (target / content).write_text("precious")
    with pytest.raises(StateDirError, match="not made by 'zonegate demo'"):
        state.prepare(target)
    with pytest.raises(StateDirError, match="not a 'zonegate demo' state folder"):
        state.clear(target)
    assert (target / content).read_text() == "precious"


def _zonegate(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from gateway.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                          text=True, timeout=60)


def test_cli_refuses_bad_state_dirs_on_one_line(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("precious")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for target, message in ((foreign, "not made by 'zonegate demo'"),
                            (a_file, "exists and is not a folder")):
        proc = _zonegate("demo", "--smoke", "--state-dir", str(target))
        err = proc.stderr.strip().splitlines()
        assert proc.returncode == 2, proc.stderr
        assert len(err) == 1 and err[0].startswith("zonegate: error: --state-dir"), err
        assert message in err[0]
        assert proc.stdout == ""
    assert (foreign / "notes.txt").read_text() == "precious"


def test_a_taken_port_is_named() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortInUse, match=rf"127.0.0.1:{port} \(the gateway\).*"
                                            "--ephemeral-ports"):
            check_free(port, "the gateway")
