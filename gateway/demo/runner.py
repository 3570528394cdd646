"""Run the demo: deploy, take the tour, print the guide, wait; used by `zonegate demo`."""

from __future__ import annotations

import asyncio
import signal
import time

from rich.console import Console

from gateway.demo.deployment import Deployment, deploy
from gateway.demo.files import StateFiles
from gateway.demo.guide import print_guide
from gateway.demo.ports import ephemeral_ports, fixed_ports
from gateway.demo.tour import StepResult, TourContext, run_tour


class _ConsoleReporter:
    """Startup progress on the console: a spinner on a terminal, one line per component."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._status = console.status("starting", spinner="dots") if console.is_terminal \
            else None
        if self._status is not None:
            self._status.start()

    def starting(self, component: str) -> None:
        if self._status is not None:
            self._status.update(f"starting {component}…")

    def ready(self, component: str, detail: str, seconds: float) -> None:
        self._console.print(f"[green]started[/green] {component}: {detail} "
                            f"[dim]({seconds:.1f}s)[/dim]", highlight=False, soft_wrap=True)

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()


def _print_step(console: Console, result: StepResult) -> None:
    style = "green" if result.ok else "bold red"
    word, _, rest = result.line.partition(" ")
    console.print(f"[{style}]{word}[/{style}] ", end="", highlight=False)
    console.print(rest, markup=False, highlight=False, soft_wrap=True)


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def run_demo(files: StateFiles, *, smoke: bool, ephemeral: bool, console: Console) -> int:
    """Deploy, tour, and (without `smoke`) guide and wait; 0 when every step is ok."""
    ports = ephemeral_ports() if smoke or ephemeral else fixed_ports()
    began = time.monotonic()
    reporter = _ConsoleReporter(console)
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:
        # SIGTERM stops the demo like Ctrl-C: everything started is stopped on the way out
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        async with deploy(files, ports, reporter) as deployment:
            reporter.close()
            if deployment.control_url is None and deployment.control_error is None:
                console.print(f"note: the control plane is not yet part of the demo "
                              f"({deployment.control_note})", highlight=False, soft_wrap=True)
            results = await run_tour(_context(deployment),
                                     lambda result: _print_step(console, result))
            failed = sum(not r.ok for r in results)
            console.print(f"tour: {len(results) - failed}/{len(results)} steps ok in "
                          f"{time.monotonic() - began:.1f}s", highlight=False)
            if not smoke:
                print_guide(console, deployment)
                console.print("[bold]running; Ctrl-C stops everything[/bold]")
                loop.remove_signal_handler(signal.SIGTERM)
                await _wait_for_signal()
                console.print("stopping…")
        if not smoke:
            console.print("stopped; the state stays in " + str(files.root), soft_wrap=True)
    finally:
        reporter.close()
        loop.remove_signal_handler(signal.SIGTERM)
    return 1 if failed else 0


def _context(deployment: Deployment) -> TourContext:
    return TourContext(gateway_url=deployment.gateway_url,
                       token_endpoint=deployment.idp.token_endpoint,
                       credentials=deployment.credentials, files=deployment.files,
                       control_url=deployment.control_url,
                       control_error=deployment.control_error)
