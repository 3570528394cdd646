"""`zonegate serve` as a real process: kill -9 mid-traffic, restart, the audit chain
continues with a recovery record, and the restart says so in its log and metrics."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from gateway.audit import verify_log
from tests.gateway.ingress.conftest import Upstream

POLICIES = Path(__file__).parents[3] / "policies"
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Served:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.log: list[dict[str, object]] = []

    async def wait_for(self, message: str, limit: float = 120) -> dict[str, object]:
        """Read the JSON log until `message` appears (the limit only bounds a hang)."""
        assert self.proc.stderr is not None
        async with asyncio.timeout(limit):
            while True:
                line = await self.proc.stderr.readline()
                if not line:
                    raise AssertionError(f"serve exited before {message!r}: {self.log}")
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:  # kept: a one-line error says why it exited
                    self.log.append({"raw": line.decode(errors="replace").rstrip()})
                    continue
                self.log.append(entry)
                if message in str(entry.get("message", "")):
                    return entry


async def _serve(config: Path, audit: Path) -> Served:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sys; from gateway.cli import main; sys.exit(main())",
        "serve", "--config", str(config), "--role", "ingress", "--audit-log", str(audit),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    return Served(proc)


async def test_kill_9_then_restart_continues_the_chain(tmp_path: Path,
                                                       upstream: Upstream) -> None:
    port = _free_port()
    config = tmp_path / "gateway.yaml"
    config.write_text(f"""
trust_domain: city.example
listen: {{ingress: "127.0.0.1:{port}"}}
policy: {{engine: embedded, bundle: "{POLICIES}"}}
zones:
  - {{name: open, prefix: /zones/open/, upstream: "{upstream.url}", level: L1}}
""")
    audit = tmp_path / "audit.jsonl"
    url = f"http://127.0.0.1:{port}"
    first = await _serve(config, audit)
    try:
        await first.wait_for("listening")
        async with aiohttp.ClientSession() as client:
            for _ in range(20):
                async with client.get(f"{url}/zones/open/x") as resp:
                    assert resp.status == 401  # anonymous: denied, and audited
    finally:
        first.proc.send_signal(signal.SIGKILL)
        await first.proc.wait()
    assert first.proc.returncode == -signal.SIGKILL
    before = verify_log(audit)
    assert before.records >= 20

    second = await _serve(config, audit)
    try:
        warning = await second.wait_for("not closed cleanly")
        assert warning["level"] == "warning" and warning["last_seq"] == before.records
        await second.wait_for("listening")
        async with aiohttp.ClientSession() as client:
            async with client.get(f"{url}/metrics") as resp:
                assert "zonegate_audit_recoveries_total 1.0" in await resp.text()
            async with client.get(f"{url}/zones/open/y") as resp:
                assert resp.status == 401
    finally:
        second.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.proc.wait(), 60) == 0
    report = verify_log(audit)
    assert report.recoveries == 1 and not report.torn_tail
    kinds = [json.loads(line)["kind"] for line in audit.read_bytes().splitlines()]
    assert kinds[before.records] == "recovery"
    assert kinds[-2:] == ["request", "shutdown"]


async def test_serve_decision_log_masks_configured_fields(tmp_path: Path,
                                                          upstream: Upstream) -> None:
    port = _free_port()
    config = tmp_path / "gateway.yaml"
    decisions = tmp_path / "decisions.jsonl"
    config.write_text(f"""
trust_domain: city.example
listen: {{ingress: "127.0.0.1:{port}"}}
policy: {{engine: embedded, bundle: "{POLICIES}", decision_log: "{decisions}",
          decision_log_mask: [/input/source/ip, /input/request/query/patient]}}
zones:
  - {{name: open, prefix: /zones/open/, upstream: "{upstream.url}", level: L1}}
""")
    served = await _serve(config, tmp_path / "audit.jsonl")
    try:
        await served.wait_for("listening")
        async with aiohttp.ClientSession() as client, client.get(
                f"http://127.0.0.1:{port}/zones/open/x?patient=zhang",
                headers={"Cookie": "session=secret"}) as resp:
            assert resp.status == 401
    finally:
        served.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(served.proc.wait(), 60) == 0
    event = json.loads(decisions.read_text().splitlines()[-1])
    assert "ip" not in event["input"]["source"]
    assert "patient" not in event["input"]["request"]["query"]
    assert "cookie" not in event["input"]["request"].get("headers", {})  # built-in mask kept
    assert {"/input/source/ip", "/input/request/query/patient"} <= set(event["erased"])


async def test_serve_bad_config_is_one_line_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("trust_domain: city.example\nzones:\n  - {name: metrics, prefix: "
                      "/metrics/, upstream: 'http://127.0.0.1:1', level: L1}\n"
                      f"policy: {{bundle: '{POLICIES}'}}\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sys; from gateway.cli import main; sys.exit(main())",
        "serve", "--config", str(config), "--role", "ingress",
        "--audit-log", str(tmp_path / "a.jsonl"),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 2
    lines = [line for line in err.decode().splitlines() if line.startswith("zonegate: error")]
    assert len(lines) == 1 and "reserved for the gateway" in lines[0]
    assert "Traceback" not in err.decode()


@pytest.mark.parametrize(("args", "message"), [
    (["--role", "control"], "run 'zonegate store migrate'"),
    (["--role", "sideways"], "--role: must be all, ingress or control"),
    (["--audit-sync", "sometimes"], "--audit-sync: must be background, group, always or off"),
    (["--segments", "{segments}"], "must be an object"),
])
def test_serve_argument_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    import subprocess

    config = tmp_path / "gateway.yaml"
    config.write_text("trust_domain: city.example\n")
    segments = tmp_path / "segments.json"
    segments.write_text('{"hospital-net": "10.0.0.0/8"}')
    args = [a.replace("{segments}", str(segments)) for a in args]
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from gateway.cli import main; sys.exit(main())",
         "serve", "--config", str(config), *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


async def test_two_workers_share_port_and_signing_key(tmp_path: Path,
                                                      upstream: Upstream) -> None:
    port = _free_port()
    config = tmp_path / "gateway.yaml"
    config.write_text(f"""
trust_domain: city.example
listen: {{ingress: "127.0.0.1:{port}"}}
policy: {{engine: embedded, bundle: "{POLICIES}"}}
zones:
  - {{name: open, prefix: /zones/open/, upstream: "{upstream.url}", level: L1}}
""")
    audit = tmp_path / "audit.jsonl"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sys; from gateway.cli import main; sys.exit(main())",
        "serve", "--config", str(config), "--role", "ingress", "--audit-log", str(audit),
        "--workers", "2", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    served = Served(proc)
    try:
        lines = [await served.wait_for("listening") for _ in range(2)]
        assert len({line["pid"] for line in lines}) == 2
        # each worker froze its startup heap: full collections skip it (runtime.py)
        assert all(line["gc_frozen_objects"] > 10_000 for line in lines)
        kids = set()
        for _ in range(16):  # each new connection lands on either worker
            async with aiohttp.ClientSession() as client:  # one keep-alive connection
                async with client.get(f"http://127.0.0.1:{port}/.well-known/zonegate/"
                                      "jwks.json") as resp:
                    kids.add((await resp.json())["keys"][0]["kid"])
                async with client.get(f"http://127.0.0.1:{port}/zones/open/x") as resp:
                    assert resp.status == 401
        assert len(kids) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 60) == 0
    served_by = [verify_log(tmp_path / f"audit.w{i}.jsonl").records - 1 for i in (1, 2)]
    # both workers answered requests (and so served the JWKS with the one kid)
    assert sum(served_by) == 16 and min(served_by) >= 1


def test_freeze_startup_heap_hides_long_lived_objects_from_the_collector() -> None:
    import gc

    from gateway.ingress.runtime import freeze_startup_heap

    survivor = [object() for _ in range(1000)]
    try:
        frozen = freeze_startup_heap()
        assert frozen == gc.get_freeze_count() >= len(survivor)
        assert not any(obj is survivor for obj in gc.get_objects())  # out of every generation
    finally:
        gc.unfreeze()
