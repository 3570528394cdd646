"""`zonegate idp …`: the development OIDC provider (never for production)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from gateway.idp.config import IdPConfig, demo_config, load_idp_config
from gateway.idp.errors import IdPError
from gateway.idp.passwords import hash_password
from gateway.idp.server import DevIdP

idp_app = typer.Typer(help="Development OIDC provider (never for production).",
                      no_args_is_help=True)

_BANNER = (
    "[bold]DEVELOPMENT ONLY - NOT FOR PRODUCTION[/bold]\n"
    "Public demo passwords and secrets, no login page, no consent,\n"
    "no refresh tokens. It exists for the demo and the tests."
)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _describe(console: Console, idp: DevIdP, config: IdPConfig, source: str) -> None:
    console.print(Panel(_BANNER, title="zonegate dev IdP", border_style="red"))
    console.print(f"config      {source}")
    console.print(f"issuer      {idp.issuer}")
    console.print(f"discovery   {idp.issuer}/.well-known/openid-configuration")
    console.print(f"jwks        {idp.jwks_uri}")
    console.print(f"token       {idp.token_endpoint}")
    console.print(f"algorithm   {config.algorithm}, tokens live {config.token_ttl} s")
    console.print(f"admin token {idp.admin_token}  (POST {idp.issuer}/admin/rotate, or SIGHUP)")
    table = Table(title="users", show_edge=False)
    for column in ("user", "roles", "groups", "clearance"):
        table.add_column(column)
    for name, user in config.users.items():
        table.add_row(name, ", ".join(user.roles), ", ".join(user.groups), user.clearance)
    console.print(table)
    clients = ", ".join(f"{name} ({'/'.join(c.grants)})" for name, c in config.clients.items())
    console.print(f"clients     {clients or '(none)'}")
    console.print(f"listening on {idp.issuer}", highlight=False)


async def _serve(config: IdPConfig, host: str, port: int, admin_token: str | None,
                 source: str, console: Console) -> None:
    async with DevIdP.start(config, host, port, admin_token=admin_token) as idp:
        _describe(console, idp, config, source)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def rotate() -> None:
            key = idp.rotate()
            console.print(f"rotated: new key {key.kid} published, signs in "
                          f"{config.rotation_lead:g} s")

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, rotate)
        try:
            await stop.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        console.print("stopped")


@idp_app.command("run")
def idp_run(
    config: Annotated[Path | None, typer.Option(
        "--config", help="IdP YAML (users, clients); default: the shipped demo users.")] = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind (0 = any free port).")] = 9000,
    admin_token: Annotated[str | None, typer.Option(
        "--admin-token", help="Bearer token for POST /admin/rotate (default: random).")] = None,
    allow_remote: Annotated[bool, typer.Option(
        "--allow-remote", help="Allow binding a non-loopback address.")] = False,
) -> None:
    """Run the development OIDC provider until Ctrl-C (SIGHUP rotates the signing key)."""
    if not 0 <= port <= 65535:
        raise IdPError(f"--port: {port} is not a TCP port")
    if not _is_loopback(host) and not allow_remote:
        raise IdPError(f"--host: {host} is not a loopback address; the dev IdP is for "
                       "development only (pass --allow-remote to insist)")
    cfg = load_idp_config(config) if config is not None else demo_config()
    source = str(config) if config is not None else "built-in demo users (gateway/idp/demo.yaml)"
    console = Console(highlight=False, soft_wrap=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(cfg, host, port, admin_token, source, console))


@idp_app.command("hash-password")
def idp_hash_password(
    stdin: Annotated[bool, typer.Option(
        "--stdin", help="Read the password from the first line of standard input.")] = False,
) -> None:
    """Print a scrypt hash for a user's `password_hash` in the IdP YAML."""
    if stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise IdPError("the password is empty")
    print(hash_password(password))
