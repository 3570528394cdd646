"""`zonegate serve --role control|all` as a real process: it listens on listen.control,
verifies tokens from the real dev IdP, stops cleanly on SIGTERM, and refuses an
unmigrated store or a bad combination with one line and exit 2."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.idp import DevIdP, demo_config
from gateway.store import Store

POLICIES = Path(__file__).parents[3] / "policies"
CLI = [sys.executable, "-c", "import sys; from gateway.cli import main; sys.exit(main())"]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def idp() -> AsyncIterator[DevIdP]:
    async with DevIdP.start(demo_config(), "127.0.0.1", 0) as server:
        yield server


def _config(tmp: Path, idp: DevIdP, control_port: int, extra: str = "") -> Path:
    path = tmp / "gateway.yaml"
    path.write_text(f"""
trust_domain: city.example
listen: {{control: "127.0.0.1:{control_port}"}}
identity:
  oidc:
    - {{issuer: "{idp.issuer}", audience: zonegate, jwks_uri: "{idp.jwks_uri}"}}
store: sqlite:///zonegate.db
{extra}""")
    return path


async def _wait_for(proc: asyncio.subprocess.Process, message: str,
                    limit: float = 120) -> list[str]:
    """Read the log until `message` appears (the limit only bounds a hang)."""
    assert proc.stderr is not None
    seen: list[str] = []
    async with asyncio.timeout(limit):
        while True:
            line = (await proc.stderr.readline()).decode()
            if not line:
                raise AssertionError(f"serve exited before {message!r}: {seen}")
            seen.append(line)
            if message in line:
                return seen


async def _start(config: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *CLI, "serve", "--config", str(config), *args,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)


async def test_role_control_serves_and_stops_on_sigterm(tmp_path: Path, idp: DevIdP) -> None:
    port = _free_port()
    config = _config(tmp_path, idp, port)
    with Store.open(f"sqlite:///{tmp_path / 'zonegate.db'}") as store:
        store.migrate()
    proc = await _start(config, "--role", "control")
    try:
        await _wait_for(proc, "control plane listening")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/healthz")).json() == {"status": "ok"}
            token = idp.mint(user="analyst")
            me = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
            assert me.json()["roles"] == ["soc-analyst"]
            assert (await client.get("/api/alerts")).status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 60) == 0


async def test_role_all_serves_ingress_and_control_in_one_process(tmp_path: Path,
                                                                  idp: DevIdP) -> None:
    control_port, ingress_port = _free_port(), _free_port()
    config = _config(tmp_path, idp, control_port, f"""
policy: {{engine: embedded, bundle: "{POLICIES}"}}
zones:
  - {{name: open, prefix: /zones/open/, upstream: "http://127.0.0.1:9", level: L1}}
""")
    text = config.read_text().replace(
        f'listen: {{control: "127.0.0.1:{control_port}"}}',
        f'listen: {{control: "127.0.0.1:{control_port}", '
        f'ingress: "127.0.0.1:{ingress_port}"}}')
    config.write_text(text)
    with Store.open(f"sqlite:///{tmp_path / 'zonegate.db'}") as store:
        store.migrate()
    audit = tmp_path / "audit.jsonl"
    proc = await _start(config, "--role", "all", "--audit-log", str(audit))
    try:
        log = await _wait_for(proc, "control plane listening")
        if not any('"listening"' in line for line in log):
            await _wait_for(proc, '"listening"')
        async with httpx.AsyncClient() as client:
            denied = await client.get(f"http://127.0.0.1:{ingress_port}/zones/open/x")
            assert denied.status_code == 401  # the data plane: anonymous is refused
            token = idp.mint(user="officer")
            verify = await client.get(f"http://127.0.0.1:{control_port}/api/audit/log/verify",
                                      headers={"Authorization": f"Bearer {token}"})
            # the control plane checks the chain the ingress beside it is writing
            assert verify.json()["intact"] is True and verify.json()["records"] >= 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 60) == 0
    kinds = [json.loads(line)["kind"] for line in audit.read_bytes().splitlines()]
    assert kinds[-1] == "shutdown"  # the ingress was stopped cleanly too


@pytest.mark.parametrize(("args", "migrate", "message"), [
    (["--role", "control"], False, "run 'zonegate store migrate'"),
])
def test_setup_errors_are_one_line_exit_2(tmp_path: Path, args: list[str], migrate: bool,
                                          message: str) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("trust_domain: city.example\nstore: sqlite:///zonegate.db\n"
                      f"listen: {{control: \"127.0.0.1:{_free_port()}\"}}\n")
    if migrate:
        with Store.open(f"sqlite:///{tmp_path / 'zonegate.db'}") as store:
            store.migrate()
    result = subprocess.run([*CLI, "serve", "--config", str(config), *args],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("zonegate:")]
    assert len(errors) == 1 and message in errors[0]
    assert "Traceback" not in result.stderr


def test_port_in_use_is_one_line_exit_2(tmp_path: Path) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        config = tmp_path / "gateway.yaml"
        config.write_text("trust_domain: city.example\nstore: sqlite:///zonegate.db\n"
                          f"listen: {{control: \"127.0.0.1:{port}\"}}\n")
        with Store.open(f"sqlite:///{tmp_path / 'zonegate.db'}") as store:
            store.migrate()
        result = subprocess.run([*CLI, "serve", "--config", str(config), "--role", "control"],
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "cannot listen" in result.stderr and "Traceback" not in result.stderr
