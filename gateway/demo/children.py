"""Child processes: `zonegate serve` (gateway, control plane) and `zonegate monitor run`,
started the way a user starts them, polled for readiness, stopped with SIGTERM.

Each child runs in its own process group so that stopping it also stops anything it
started (`serve --workers N` forks workers); nothing is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import ssl
import sys
from pathlib import Path

import aiohttp

from gateway.demo.errors import StartupFailed

_STOP_GRACE = 10.0


def zonegate_argv() -> list[str]:
    """How to run `zonegate`: the console script beside this interpreter, else the module."""
    script = Path(sys.executable).with_name("zonegate")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from gateway.cli import main; sys.exit(main())"]


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"


class Child:
    """A running `zonegate …` child whose output goes to one log file."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.name = name
        self.proc = proc
        self.log = log

    @classmethod
    async def start(cls, name: str, args: list[str], log: Path) -> Child:
        """Start `zonegate <args>`; stdout and stderr go to `log`."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            proc = await asyncio.create_subprocess_exec(
                *zonegate_argv(), *args, stdin=asyncio.subprocess.DEVNULL, stdout=out,
                stderr=out, start_new_session=True)
        return cls(name, proc, log)

    def log_tail(self, lines: int = 5) -> str:
        """The last lines of the child's log, for an error message."""
        return _tail(self.log, lines)

    async def wait_ready(self, urls: list[str], *, ca_bundle: Path, limit: float) -> str:
        """Poll GET on each of `urls` until one answers 200; returns that URL.

        StartupFailed when the child exits or `limit` seconds pass, naming the child and
        quoting its last log lines.
        """
        context = ssl.create_default_context(cafile=str(ca_bundle))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        delay = 0.05
        async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=context),
                timeout=aiohttp.ClientTimeout(total=2)) as session:
            while True:
                if self.proc.returncode is not None:
                    raise StartupFailed(
                        f"{self.name} exited with status {self.proc.returncode} before it was "
                        f"ready; {self.log}: {self.log_tail()}")
                for url in urls:
                    with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError):
                        # not listening yet (or not in this scheme): keep polling
                        async with session.get(url) as resp:
                            if resp.status == 200:
                                return url
                if loop.time() > deadline:
                    raise StartupFailed(
                        f"{self.name} was not ready within {limit:g}s ({', '.join(urls)}); "
                        f"{self.log}: {self.log_tail()}")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)

    async def stop(self) -> int:
        """SIGTERM to the group, wait, SIGKILL if needed; the exit status (idempotent)."""
        if self.proc.returncode is None:
            self._signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), _STOP_GRACE)
            except TimeoutError:
                self._signal(signal.SIGKILL)
                await self.proc.wait()
        # workers of a stopped parent, if any, get the same treatment
        self._signal(signal.SIGKILL)
        return self.proc.returncode if self.proc.returncode is not None else -1

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)


async def run_to_end(name: str, args: list[str], log: Path, *, limit: float) -> str:
    """Run `zonegate <args>` to completion; its output. StartupFailed on failure or timeout."""
    child = await Child.start(name, args, log)
    try:
        status = await asyncio.wait_for(child.proc.wait(), limit)
    except TimeoutError:
        await child.stop()
        raise StartupFailed(f"{name} did not finish within {limit:g}s; {log}: "
                            f"{child.log_tail()}") from None
    except asyncio.CancelledError:
        await child.stop()  # Ctrl-C or SIGTERM mid-run: leave nothing behind
        raise
    if status != 0:
        raise StartupFailed(f"{name} exited with status {status}; {log}: {child.log_tail()}")
    return await asyncio.to_thread(log.read_text, encoding="utf-8", errors="replace")
