"""Contract 1: the command line's error behaviour."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gateway.cli import main


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from gateway.cli import main; sys.exit(main())",
         *args],
        capture_output=True, text=True, timeout=60,
    )


def test_config_check_ok(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("trust_domain: city.example\n")
    result = run("config", "check", str(path))
    assert result.returncode == 0, result.stderr
    assert "city.example" in result.stdout


def test_bad_config_is_one_line_exit_2_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("trust_domain: city.example\nsurprise: true\n")
    result = run("config", "check", str(path))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "surprise: unknown key" in result.stderr
    assert "Traceback" not in result.stderr


def test_deeply_nested_yaml_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("trust_domain: city.example\nzones: " + "[" * 5000 + "]" * 5000 + "\n")
    result = run("config", "check", str(path))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert f"{path}: YAML nested too deeply" in result.stderr


def test_a_key_written_twice_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("trust_domain: city.example\ntls:\n  cert: a.crt\n  key: a.key\n"
                    "  client_cert: required\n  client_cert: \"off\"\n")
    result = run("config", "check", str(path))
    assert result.returncode == 2, result.stderr
    assert f"{path}:6: duplicate key 'client_cert'" in result.stderr


def test_unknown_option_is_usage_error() -> None:
    assert main(["config", "check", "--no-such-flag"]) == 2
