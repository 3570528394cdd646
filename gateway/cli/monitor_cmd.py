"""`zonegate monitor …`: IoT terminal monitoring (DESIGN.md contract 1 and 5)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from monitor.config import load_monitor_config
from monitor.errors import MonitorError
from monitor.runner import RunOptions, run
from monitor.sinks import SinkCredentials

app = typer.Typer(help="Watch IoT terminals on the wire.", no_args_is_help=True)


def _syslog_target(value: str) -> tuple[str, int, str]:
    target, _sep, transport = value.partition("/")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 \
            or transport not in ("", "udp", "tcp"):
        raise MonitorError(f"--cef-syslog must be HOST:PORT[/udp|/tcp], got {value!r}")
    return host.strip("[]"), int(port), transport or "udp"


@app.command("run")
def run_cmd(
    iface: Annotated[str | None, typer.Option("--iface", help="Capture live on IF.")] = None,
    pcap: Annotated[Path | None, typer.Option("--pcap", help="Read a pcap/pcapng.")] = None,
    alerts_out: Annotated[Path | None, typer.Option(
        "--alerts-out", help="Append ECS alerts (NDJSON) to FILE.")] = None,
    learn: Annotated[float | None, typer.Option(
        "--learn", help="First SECONDS of capture time only learn baselines.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Monitor YAML.")] = None,
    inventory: Annotated[Path | None, typer.Option(
        "--inventory", help="Device inventory JSON (loaded, then saved).")] = None,
    quarantine_file: Annotated[Path | None, typer.Option(
        "--quarantine-file", help="Quarantine list JSON the gateway reads.")] = None,
    alerts_url: Annotated[str | None, typer.Option(
        "--alerts-url", help="POST alerts to the control plane.")] = None,
    spool: Annotated[Path | None, typer.Option(
        "--spool", help="Spool file for alerts the control plane did not take.")] = None,
    alerts_cert: Annotated[Path | None, typer.Option(
        "--alerts-cert", help="Client certificate (PEM chain) for the control plane (mTLS).",
    )] = None,
    alerts_key: Annotated[Path | None, typer.Option(
        "--alerts-key", help="Private key of --alerts-cert.")] = None,
    alerts_ca: Annotated[Path | None, typer.Option(
        "--alerts-ca", help="CA bundle verifying the control plane's certificate.")] = None,
    alerts_token_file: Annotated[Path | None, typer.Option(
        "--alerts-token-file", help="File holding a bearer token for the control plane.",
    )] = None,
    ocsf_out: Annotated[Path | None, typer.Option(
        "--ocsf-out", help="Append OCSF Detection Findings to FILE.")] = None,
    cef_syslog: Annotated[str | None, typer.Option(
        "--cef-syslog", help="Send CEF over syslog to HOST:PORT, optionally /udp or /tcp.")] = None,
    bpf: Annotated[str | None, typer.Option("--bpf", help="BPF filter (live).")] = None,
    duration: Annotated[float | None, typer.Option(
        "--duration", help="Stop a live capture after SECONDS.")] = None,
    live_table: Annotated[bool, typer.Option(
        "--live-table/--no-live-table", help="Show incidents live (default on a terminal).",
    )] = sys.stdout.isatty(),
) -> None:
    """Capture from an interface or read a pcap, and raise alerts."""
    if (iface is None) == (pcap is None):
        raise MonitorError("give exactly one of --iface IF or --pcap FILE")
    if learn is not None and learn < 0:
        raise MonitorError(f"--learn must be >= 0 seconds, got {learn}")
    if duration is not None and duration <= 0:
        raise MonitorError(f"--duration must be > 0 seconds, got {duration}")
    cfg = load_monitor_config(config)
    http = cfg.alerts_http
    credentials = SinkCredentials(
        cert=alerts_cert or http.cert, key=alerts_key or http.key, ca=alerts_ca or http.ca,
        token_file=alerts_token_file or http.token_file)
    url = alerts_url or http.url
    if url is None and credentials.configured():
        raise MonitorError("--alerts-cert, --alerts-key, --alerts-ca and --alerts-token-file "
                           "need --alerts-url (or alerts_http.url in --config)")
    console = Console(stderr=True)
    opts = RunOptions(
        pcap=pcap, iface=iface, bpf=bpf, duration=duration, alerts_out=alerts_out,
        alerts_url=url, spool=spool or http.spool, alerts_credentials=credentials,
        ocsf_out=ocsf_out,
        cef_syslog=_syslog_target(cef_syslog) if cef_syslog else None,
        inventory=inventory, quarantine_file=quarantine_file, learn_seconds=learn,
        live_table=live_table, progress=console.is_terminal,
        on_ready=lambda text: console.print(text, highlight=False, soft_wrap=True),
    )
    summary = run(opts, cfg, console)
    rate = summary.packets / summary.seconds if summary.seconds else 0.0
    incidents = ", ".join(f"{k}={v}" for k, v in sorted(summary.incidents.items())) or "none"
    out = Console(soft_wrap=True)
    out.print(f"packets {summary.packets:,} in {summary.seconds:.2f}s ({rate:,.0f}/s), "
              f"devices {summary.devices}, incidents: {incidents}")
    if summary.truncated_frames:
        out.print(f"truncated or malformed frames: {summary.truncated_frames:,}")
    if summary.truncated_file:
        out.print("the capture file ends in the middle of a record (read up to there)")
    if summary.kernel_dropped is not None:
        out.print(f"kernel dropped {summary.kernel_dropped:,} packets")
    if summary.quarantined:
        out.print(f"quarantined: {', '.join(sorted(set(summary.quarantined)))}")
    if summary.spooled:
        out.print(f"{summary.spooled} alert(s) spooled for the control plane")
