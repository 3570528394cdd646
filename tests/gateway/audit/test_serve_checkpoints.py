"""A real `zonegate serve` anchors its audit chain: checkpoints in a file and in the store
while it runs, none while idle, a final one after the `shutdown` record on SIGTERM; a
kill -9 is no false alarm, and a tail cut afterwards is caught."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from gateway.audit import Checkpoint, read_checkpoint_file, read_store_checkpoints
from gateway.store import Store
from tests.gateway.ingress.conftest import Upstream
from tests.gateway.ingress.conftest import upstream as upstream  # the fixture
from tests.gateway.ingress.test_serve import POLICIES, _free_port, _serve

pytestmark = pytest.mark.slow


def verify(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from gateway.cli import main; sys.exit(main())",
         "audit", "verify", *args], capture_output=True, text=True, timeout=60)


async def poll_checkpoints(path: Path, seq: int, limit: float = 60) -> list[Checkpoint]:
    """Read the checkpoint file until one reaches `seq` (the limit only bounds a hang)."""
    async with asyncio.timeout(limit):
        while True:
            found = await asyncio.to_thread(_read_if_there, path)
            if found and found[-1].seq >= seq:
                return found
            await asyncio.sleep(0.02)


def _read_if_there(path: Path) -> list[Checkpoint]:
    return read_checkpoint_file(path)[0] if path.exists() else []


async def test_serve_checkpoints_while_running_and_after_shutdown(tmp_path: Path,
                                                                  upstream: Upstream) -> None:
    port = _free_port()
    db = tmp_path / "zonegate.db"
    with Store.open(f"sqlite:///{db}") as store:
        store.migrate()
    config = tmp_path / "gateway.yaml"
    config.write_text(f"""
trust_domain: city.example
listen: {{ingress: "127.0.0.1:{port}"}}
policy: {{engine: embedded, bundle: "{POLICIES}"}}
zones:
  - {{name: open, prefix: /zones/open/, upstream: "{upstream.url}", level: L1}}
store: "sqlite:///{db}"
ingress: {{device_trust: store, audit_checkpoint_seconds: 0.05,
          audit_checkpoints: shipped/checkpoints.jsonl}}
""")
    (tmp_path / "shipped").mkdir()
    shipped = tmp_path / "shipped" / "checkpoints.jsonl"
    audit = tmp_path / "audit.jsonl"
    url = f"http://127.0.0.1:{port}"

    first = await _serve(config, audit)
    try:
        await first.wait_for("listening")
        async with aiohttp.ClientSession() as client:
            for _ in range(10):
                async with client.get(f"{url}/zones/open/x") as resp:
                    assert resp.status == 401
            running = await poll_checkpoints(shipped, 10)
            assert not any(c.final for c in running)
            async with client.get(f"{url}/metrics") as resp:
                text = await resp.text()
            for sink in ("file", "store"):
                assert f'zonegate_audit_checkpoint_errors_total{{sink="{sink}"}} 0.0' in text
    finally:
        first.proc.send_signal(signal.SIGKILL)
        await first.proc.wait()
    killed = verify(str(audit), "--checkpoints", str(shipped))
    assert killed.returncode == 0, killed.stderr  # kill -9: no false alarm
    assert "ends without a shutdown record" in killed.stdout

    second = await _serve(config, audit)
    try:
        await second.wait_for("listening")
        async with aiohttp.ClientSession() as client, client.get(
                f"{url}/zones/open/y") as resp:
            assert resp.status == 401
    finally:
        second.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.proc.wait(), 60) == 0

    lines = audit.read_bytes().splitlines()
    last = json.loads(lines[-1])
    assert last["kind"] == "shutdown"
    found, torn = read_checkpoint_file(shipped)
    assert not torn and found[-1].final
    assert (found[-1].seq, found[-1].hash) == (last["seq"], last["hash"])
    assert found[-1].log == str(audit.resolve())
    seqs = [c.seq for c in found]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)  # only when it moved
    with Store.open(f"sqlite:///{db}") as store:
        in_store = read_store_checkpoints(store.audit, "store")
    assert in_store[-1] == found[-1]

    for source in (["--checkpoints", str(shipped)], ["--store", f"sqlite:///{db}"]):
        intact = verify(str(audit), *source)
        assert intact.returncode == 0 and "(final, after shutdown)" in intact.stdout
    audit.write_bytes(b"\n".join(lines[:-2]) + b"\n")  # the last request and the shutdown
    for source in (["--checkpoints", str(shipped)], ["--store", f"sqlite:///{db}"]):
        cut = verify(str(audit), *source)
        assert cut.returncode == 1
        assert f"records after seq {last['seq'] - 2} were deleted" in cut.stderr
        assert f"saw seq {last['seq']} hash {last['hash']}" in cut.stderr
