"""`zonegate store …`: migrate, inspect, load alerts, quarantine and release devices.

Register with ``app.add_typer(gateway.store.cli.app, name="store")``. Every command takes
the store from ``--store URL`` or from the ``store:`` key of ``--config FILE``. Errors are
`StoreError`s (or `ConfigError`s) that the CLI main prints on one line with exit code 2.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from gateway.config import load_config
from gateway.store._alert_doc import parse_line, validate
from gateway.store.errors import InvalidRecord, StoreConfigError
from gateway.store.migrate import head
from gateway.store.store import Store

app = typer.Typer(help="The store: migrate, status, alerts, quarantines.", no_args_is_help=True)
StoreOpt = Annotated[str | None, typer.Option("--store", help="sqlite:///PATH or postgresql://…")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Gateway YAML (its store: key).")]
BATCH = 500
_DURATION = re.compile(r"^(\d+)([smhd])$")


def _open(store: str | None, config: Path | None) -> Store:
    if store is not None and config is not None:
        raise StoreConfigError("give --store or --config, not both")
    if store is None:
        if config is None:
            raise StoreConfigError("no store: give --store URL or --config FILE")
        store = load_config(config).store
    return Store.open(store)


def _until(until: str | None, lasting: str | None) -> datetime | None:
    if until is not None and lasting is not None:
        raise InvalidRecord("give --until or --for, not both")
    if lasting is not None:
        match = _DURATION.match(lasting)
        if not match:
            raise InvalidRecord(f"--for: {lasting!r} is not a duration like 30m, 12h or 7d")
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match[2]]
        return datetime.now(UTC) + timedelta(**{unit: int(match[1])})
    if until is None:
        return None
    try:
        when = datetime.fromisoformat(until)
    except ValueError:
        raise InvalidRecord(f"--until: {until!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise InvalidRecord(f"--until: {until!r} has no time zone (add Z or +08:00)")
    return when


@app.command("migrate")
def migrate_cmd(store: StoreOpt = None, config: ConfigOpt = None) -> None:
    """Create or upgrade the schema to this version's head."""
    with _open(store, config) as opened:
        before = opened.revision()
        after = opened.migrate()
        Console().print(f"[green]ok[/green] {opened.url}: schema {before or 'empty'} -> {after}")


@app.command("status")
def status_cmd(store: StoreOpt = None, config: ConfigOpt = None) -> None:
    """Show the schema revision and what the store holds."""
    with _open(store, config) as opened:
        opened.check_schema()
        table = Table(title=f"{opened.url} (schema {opened.revision()}, head {head()})")
        table.add_column("records")
        table.add_column("count", justify="right")
        table.add_row("alerts", str(opened.alerts.count()))
        table.add_row("active quarantines", str(len(opened.active_quarantines())))
        policy = opened.policies.active()
        table.add_row("active policy", "-" if policy is None else policy.revision)
        Console().print(table)


def _lines(path: str) -> Iterator[tuple[int, str]]:
    if path == "-":
        yield from enumerate(sys.stdin, start=1)
        return
    try:
        with Path(path).open(encoding="utf-8") as handle:
            yield from enumerate(handle, start=1)
    except OSError as exc:
        raise InvalidRecord(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidRecord(f"{path}: not UTF-8 text") from None


@app.command("ingest-alerts")
def ingest_alerts(
    path: Annotated[str, typer.Argument(help="NDJSON alerts file (monitor --alerts-out), or -")],
    store: StoreOpt = None,
    config: ConfigOpt = None,
    by: Annotated[str, typer.Option(help="Recorded in the change audit.")] = "monitor",
) -> None:
    """Load contract-5 alerts; all lines are checked before anything is written."""
    name = "<stdin>" if path == "-" else path
    alerts: list[dict[str, object]] = []
    for number, line in _lines(path):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        alert = parse_line(line, where)
        try:
            validate(alert)
        except InvalidRecord as exc:
            raise InvalidRecord(f"{where}: {exc}") from None
        alerts.append(alert)
    console = Console(stderr=True)
    created = duplicates = 0
    with _open(store, config) as opened, Progress(
        TextColumn("ingesting"), BarColumn(), MofNCompleteColumn(),
        console=console, disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("alerts", total=len(alerts))
        for start in range(0, len(alerts), BATCH):
            new, dup = opened.alerts.ingest_many(alerts[start:start + BATCH], by=by)
            created, duplicates = created + new, duplicates + dup
            progress.advance(task, new + dup)
    Console().print(f"[green]ok[/green] {name}: {created} new, {duplicates} already stored")


@app.command("quarantine")
def quarantine_cmd(
    device: Annotated[str, typer.Argument(help="Device id from the inventory.")],
    reason: Annotated[str, typer.Option(help="Why (shown to the SOC and in the audit).")],
    by: Annotated[str, typer.Option(help="Who decides.")],
    until: Annotated[str | None, typer.Option(help="End time, ISO 8601 with zone.")] = None,
    lasting: Annotated[str | None, typer.Option("--for", help="Duration: 30m, 12h, 7d.")] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Quarantine a device: the gateway denies it within one refresh interval."""
    end = _until(until, lasting)
    with _open(store, config) as opened:
        record = opened.quarantine(device, reason, by, until=end)
    ends = "until released" if record.until is None else f"until {record.until.isoformat()}"
    Console().print(f"[green]ok[/green] device {device} quarantined {ends} (#{record.id})")


@app.command("release")
def release_cmd(
    device: Annotated[str, typer.Argument(help="Device id.")],
    by: Annotated[str, typer.Option(help="Who decides.")],
    store: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """End a device's active quarantines."""
    with _open(store, config) as opened:
        released = opened.release(device, by)
    Console().print(f"[green]ok[/green] device {device}: {len(released)} quarantine(s) ended")


@app.command("quarantines")
def quarantines_cmd(store: StoreOpt = None, config: ConfigOpt = None) -> None:
    """List the quarantines in force now."""
    with _open(store, config) as opened:
        active = opened.active_quarantines()
    table = Table(title=f"{len(active)} active quarantine(s)")
    for column in ("device", "ips", "mac", "until", "reason"):
        table.add_column(column)
    for q in active:
        table.add_row(q.device_id, " ".join(q.ips), q.mac or "-",
                      "until released" if q.until is None else q.until.isoformat(), q.reason)
    Console().print(table)
