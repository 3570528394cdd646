"""`zonegate demo [--smoke]`: the whole system on loopback, and its unattended tour.

Without `--smoke` the demo starts everything, runs the tour once (so the camera ends up
quarantined by the monitor, as the story goes), prints where everything is and what to
paste, and waits for Ctrl-C; then it stops every component it started.

With `--smoke` it runs the same tour unattended, prints one line per step (`ok <step>` or
`FAIL <step>: …`) and exits 0 only when every step behaved as expected (1 otherwise, 2
when the deployment could not start).

The demo's modules are imported when the command runs, not when the CLI starts.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

DEFAULT_STATE = Path("demo-state")


def demo(
    smoke: Annotated[bool, typer.Option(
        "--smoke", help="Run the tour unattended; exit 0 only if every step is ok.")] = False,
    state_dir: Annotated[Path | None, typer.Option(
        "--state-dir", help="Where the CA, configs, logs, store and audit log go; default "
                            "./demo-state (a temporary folder with --smoke).")] = None,
    keep: Annotated[bool, typer.Option(
        "--keep", help="Keep the temporary state folder of --smoke (a --state-dir or "
                       "./demo-state is always kept).")] = False,
    ephemeral_ports_: Annotated[bool, typer.Option(
        "--ephemeral-ports", help="Use free ports instead of 8443/8444/9000/9101-9104 "
                                  "(always so with --smoke).")] = False,
) -> None:
    """Start a complete deployment on loopback and take the tour."""
    from gateway.demo import state
    from gateway.demo.errors import DemoError
    from gateway.demo.files import StateFiles
    from gateway.demo.runner import run_demo

    temporary = smoke and state_dir is None
    root = state.temporary() if temporary else state.prepare(state_dir or DEFAULT_STATE)
    files = StateFiles(root)
    console = Console(highlight=False)
    console.print(f"zonegate demo: state in {root}", soft_wrap=True)
    status = 1
    try:
        status = asyncio.run(run_demo(files, smoke=smoke, ephemeral=ephemeral_ports_,
                                  console=console))
    except KeyboardInterrupt:
        status = 130
    except asyncio.CancelledError:  # SIGTERM
        status = 143
    except DemoError:
        keep = True  # its message points at a log in the state folder
        raise
    finally:
        if temporary and not keep:
            state.clear(root)
        elif temporary:
            console.print(f"state kept in {root}", soft_wrap=True)
    sys.stdout.flush()
    raise typer.Exit(status)
