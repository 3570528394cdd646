"""`zonegate idp run` and `zonegate idp hash-password` as real processes.

Until the lead registers `idp_cmd.idp_app` in place of serve_cmd's placeholder, the tests
register it themselves (in-process: a fresh root app; in the subprocess: RUNNER swaps it
in); afterwards the swap is a no-op.
"""

from __future__ import annotations

import asyncio
import io
import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
import typer

import gateway.cli as cli
from gateway.cli.idp_cmd import idp_app
from gateway.idp import verify_password

RUNNER = """
import sys
import gateway.cli as cli
from gateway.cli.idp_cmd import idp_app
cli.app.registered_groups = [g for g in cli.app.registered_groups if g.name != "idp"]
cli.app.add_typer(idp_app, name="idp")
sys.exit(cli.main())
"""


@pytest.fixture
def zonegate(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
             ) -> Callable[..., tuple[int, str, str]]:
    """Run the real CLI main in-process with idp_app registered (as the lead will)."""
    app = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
    app.add_typer(idp_app, name="idp")
    monkeypatch.setattr(cli, "app", app)

    def invoke(*args: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = cli.main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


@pytest.mark.parametrize(("args", "message"), [
    (["idp", "run", "--host", "0.0.0.0"], "not a loopback address"),
    (["idp", "run", "--host", "example.org"], "not a loopback address"),
    (["idp", "run", "--port", "70000"], "not a TCP port"),
    (["idp", "run", "--config", "/nonexistent/idp.yaml"], "cannot read"),
])
def test_bad_arguments_exit_2_on_one_line(zonegate: Callable[..., tuple[int, str, str]],
                                          args: list[str], message: str) -> None:
    code, _, err = zonegate(*args)
    assert code == 2, err
    assert err.strip().count("\n") == 0 and message in err


def test_bad_config_file_names_the_field(zonegate: Callable[..., tuple[int, str, str]],
                                         tmp_path: Path) -> None:
    path = tmp_path / "idp.yaml"
    path.write_text("users:\n  bob:\n    password_hash: hunter2\n")
    code, _, err = zonegate("idp", "run", "--config", str(path))
    assert code == 2
    assert f"{path}: users.bob.password_hash" in err


def test_hash_password_from_stdin(zonegate: Callable[..., tuple[int, str, str]]) -> None:
    code, out, err = zonegate("idp", "hash-password", "--stdin", stdin="s3cret-pass\n")
    assert code == 0, err
    assert verify_password("s3cret-pass", out.strip())


def test_hash_password_refuses_empty(zonegate: Callable[..., tuple[int, str, str]]) -> None:
    code, _, err = zonegate("idp", "hash-password", "--stdin", stdin="\n")
    assert code == 2 and "empty" in err


async def _line_matching(stream: asyncio.StreamReader, pattern: str,
                         seen: list[str] | None = None) -> re.Match[str]:
    seen = [] if seen is None else seen
    while True:
        raw = await asyncio.wait_for(stream.readline(), timeout=30)
        if not raw:
            raise AssertionError("process ended before printing it:\n" + "".join(seen))
        line = raw.decode()
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match


@pytest.mark.slow
async def test_run_serves_rotates_on_sighup_and_stops(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RUNNER, "idp", "run", "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    try:
        banner: list[str] = []
        match = await _line_matching(process.stdout, r"listening on (http://127\.0\.0\.1:\d+)",
                                     banner)
        issuer = match.group(1)
        assert "DEVELOPMENT ONLY" in "".join(banner)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{issuer}/.well-known/openid-configuration") as response:
                assert (await response.json())["issuer"] == issuer
            process.send_signal(signal.SIGHUP)
            await _line_matching(process.stdout, r"rotated: new key")
            async with http.get(f"{issuer}/jwks.json") as response:
                assert len((await response.json())["keys"]) == 2
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
