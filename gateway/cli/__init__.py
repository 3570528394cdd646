"""The `zonegate` command line (DESIGN.md contract 1).

Each verb group lives in its own module and is registered here. Bad input anywhere gets a
one-line error naming the file, field or argument, exit code 2, and no traceback.
"""

from __future__ import annotations

import sys

import typer

from classify.errors import ClassifyError
from gateway.cli import classify_cmd, egress_cmd, monitor_cmd, pki_cmd, policy_cmd, serve_cmd
from gateway.errors import GatewayError
from gateway.store import cli as store_cli
from monitor.errors import MonitorError
from pki.errors import PKIError

app = typer.Typer(
    name="zonegate",
    help="Zero-trust data-access gateway for city data zones.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
serve_cmd.register(app)
app.add_typer(pki_cmd.app, name="pki")
app.add_typer(policy_cmd.app, name="policy")
app.add_typer(classify_cmd.app, name="classify")
app.add_typer(monitor_cmd.app, name="monitor")
app.add_typer(store_cli.app, name="store")
app.add_typer(egress_cmd.app, name="egress")

_EXPECTED = (GatewayError, PKIError, ClassifyError, MonitorError)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns (and, as a console script, exits with) the exit status."""
    command = typer.main.get_command(app)
    try:
        # standalone mode: usage errors print usage and exit 2 through SystemExit
        command.main(args=argv, prog_name="zonegate", standalone_mode=True)
    except _EXPECTED as exc:
        print(f"zonegate: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    except KeyboardInterrupt:
        return 130
    return 0

def console_main() -> None:  # pragma: no cover - thin shim for the console script
    sys.exit(main())
