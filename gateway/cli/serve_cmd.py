"""Top-level verbs: serve, demo, idp, config, audit (audit_cmd.py)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer
from rich.console import Console

from gateway.cli import audit_cmd, demo_cmd, idp_cmd
from gateway.config import GatewayConfig, load_config
from gateway.errors import ConfigError

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable, Coroutine

    from gateway.ingress.options import GatewayRuntimeOptions

config_app = typer.Typer(help="Configuration files.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Attach the top-level verbs to the root app."""
    app.command("serve")(serve)
    app.command("demo")(demo_cmd.demo)
    app.add_typer(config_app, name="config")
    app.add_typer(idp_cmd.idp_app, name="idp")
    app.add_typer(audit_cmd.audit_app, name="audit")


def serve(
    config: Annotated[Path, typer.Option("--config", help="YAML configuration file.")],
    role: Annotated[str, typer.Option(help="all | ingress | control")] = "all",
    audit_log: Annotated[Path | None, typer.Option(
        help="Audit log (JSONL); default ingress.audit_log, else zonegate-audit.jsonl "
             "beside the config.")] = None,
    audit_sync: Annotated[str | None, typer.Option(
        help="background | group | always | off (fsync policy); default "
             "ingress.audit_sync, else background.")] = None,
    quarantine: Annotated[Path | None, typer.Option(
        help="The monitor's quarantine file (re-read when it changes).")] = None,
    signing_key: Annotated[Path | None, typer.Option(
        help="P-256 PEM key for X-Zonegate-Assertion; default ingress.signing_key, "
             "else a fresh key per start.")] = None,
    segments: Annotated[Path | None, typer.Option(
        help='JSON {"segment": ["CIDR", ...]}; replaces the config\'s segments.')] = None,
    dlp_block: Annotated[list[str] | None, typer.Option(
        help="Zone whose over-clearance responses are refused, not masked (repeat).")]
        = None,
    forward_authorization: Annotated[list[str] | None, typer.Option(
        help="Zone whose upstream receives the client's Authorization header (repeat).")]
        = None,
    ca_dir: Annotated[Path | None, typer.Option(
        help="pki/ CA directory for client certificates; default: tls.client_ca's folder.")]
        = None,
    decision_log: Annotated[Path | None, typer.Option(
        help="OPA-shaped decision log (JSONL).")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64,
                                         help="Worker processes (SO_REUSEPORT).")] = 1,
    worker_index: Annotated[int | None, typer.Option(hidden=True)] = None,
    log_level: Annotated[str, typer.Option(help="debug | info | warning | error")] = "info",
) -> None:
    """Run the gateway and/or the control plane."""
    cfg = load_config(config)
    if role not in ("all", "ingress", "control"):
        raise ConfigError(f"--role: must be all, ingress or control, got {role!r}")
    if audit_sync is not None and audit_sync not in ("background", "group", "always", "off"):
        raise ConfigError("--audit-sync: must be background, group, always or off, "
                          f"got {audit_sync!r}")
    # imported here: the data plane pulls in aiohttp, regorus and classify's catalog
    from gateway.audit import SyncMode
    from gateway.ingress.logs import configure_logging
    from gateway.ingress.options import from_config
    from gateway.ingress.runtime import run, run_workers, worker_options

    configure_logging(log_level)
    # the file sets the options; a flag given on the command line wins over it
    options = from_config(cfg, config.parent)
    options = replace(
        options,
        audit_log=audit_log or options.audit_log,
        audit_sync=cast(SyncMode, audit_sync or options.audit_sync),
        quarantine_file=quarantine or options.quarantine_file,
        signing_key=signing_key or options.signing_key,
        segments=_load_segments(segments) if segments is not None else options.segments,
        dlp_mode={**options.dlp_mode, **dict.fromkeys(dlp_block or (), "block")},
        forward_authorization=options.forward_authorization | frozenset(
            forward_authorization or ()),
    )
    if role != "ingress":
        _serve_control(cfg, role, options, ca_dir=ca_dir, decision_log=decision_log,
                       workers=workers)
        return
    if workers > 1:
        raise typer.Exit(run_workers(sys.argv[1:], workers,
                                     has_signing_key=options.signing_key is not None))
    run(cfg, worker_options(options, worker_index), ca_dir=ca_dir, decision_log=decision_log,
        reuse_port=worker_index is not None)


def _serve_control(cfg: GatewayConfig, role: str, options: GatewayRuntimeOptions, *,
                   ca_dir: Path | None, decision_log: Path | None, workers: int) -> None:
    """--role control: the control plane alone; --role all: the ingress and the control
    plane in one process and one event loop, stopped together (docs/control.md)."""
    from gateway.control import run as run_control
    from gateway.ingress.runtime import serve_ingress

    if workers > 1:
        raise ConfigError(f"--workers {workers}: only --role ingress runs several workers; "
                          "start the control plane apart with --role control")
    ingress: Callable[[asyncio.Event], Coroutine[object, object, None]] | None = None
    if role == "all":
        def start_ingress(stop: asyncio.Event) -> Coroutine[object, object, None]:
            return serve_ingress(cfg, options, ca_dir=ca_dir, decision_log=decision_log,
                                 stop=stop)

        ingress = start_ingress
    # the control plane verifies and exports the audit log the ingress writes
    run_control(cfg, audit_log=options.audit_log, ingress=ingress)


def _load_segments(path: Path) -> dict[str, tuple[str, ...]]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not JSON: {exc}") from None
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(c, str) for c in v)
        for k, v in raw.items()
    ):
        raise ConfigError(f'{path}: must be an object {{"segment": ["CIDR", ...]}}')
    return {name: tuple(cidrs) for name, cidrs in raw.items()}


@config_app.command("check")
def config_check(
    path: Annotated[Path, typer.Argument(help="YAML configuration file.")],
) -> None:
    """Validate a configuration file; exit 2 with the file and field at fault."""
    cfg = load_config(path)
    Console().print(
        f"[green]ok[/green] {path}: trust domain {cfg.trust_domain}, "
        f"{len(cfg.zones)} zone(s), policy engine {cfg.policy.engine}"
    )
