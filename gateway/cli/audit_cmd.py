"""`zonegate audit verify`: the hash chain, and the checkpoints that anchor its tail."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import DownloadColumn, Progress

from gateway.audit import (
    AuditTampered,
    Checkpoint,
    CheckpointMatch,
    CheckpointMismatch,
    VerifyReport,
    checkpoint_seqs,
    match_checkpoints,
    read_checkpoint_file,
    read_store_checkpoints,
    verify_log,
)

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(
    path: Annotated[Path, typer.Argument(help="Audit log (JSONL) to check.")],
    checkpoints: Annotated[list[Path] | None, typer.Option(
        "--checkpoints", help="Checkpoint file (JSONL) the gateway wrote, ideally the copy "
                              "shipped off the box; repeat for several.")] = None,
    store: Annotated[str | None, typer.Option(
        "--store", help="Store URL whose change audit holds checkpoints "
                        "(sqlite:///… or postgresql://…).")] = None,
) -> None:
    """Verify the audit hash chain and its checkpoints.

    Exit 0 intact, 1 tampered (names the line, or the checkpoint that saw deleted or
    changed records), 2 unreadable (the log, a checkpoint file line or store row).
    """
    console = Console(soft_wrap=True)
    given = checkpoints is not None or store is not None
    found: list[Checkpoint] = []
    torn: list[Path] = []
    for file in checkpoints or ():
        items, cut = read_checkpoint_file(file)
        found.extend(items)
        if cut:
            torn.append(file)
    if store is not None:
        found.extend(_store_checkpoints(store))
    report = _walk(console, path, checkpoint_seqs(found))
    try:
        match = match_checkpoints(path, report, found) if given else None
    except CheckpointMismatch as exc:
        typer.echo(f"zonegate: audit: TAMPERED {exc}", err=True)
        raise typer.Exit(1) from None
    out = escape(str(path))
    console.print(f"[green]ok[/green] {out}: {report.records} record(s), chain intact, "
                  f"head {report.head}")
    if match is not None:
        _print_match(console, match, report)
    for file in torn:
        console.print(f"  note: {escape(str(file))}: the last line is incomplete (a write a "
                      "crash cut short); it was not read")
    if report.recoveries:
        console.print(f"  note: {report.recoveries} restart(s) after an unclean shutdown "
                      "are on the record")
    if report.torn_tail:
        console.print("  warning: the last line is incomplete (a crash the gateway has not "
                      "yet recovered from); it is not part of the chain")
    if report.records and report.last_kind != "shutdown" and match is None:
        console.print("  warning: the log ends without a shutdown record: the gateway is "
                      "running, was killed, or the tail was cut; compare with checkpoints "
                      "(--checkpoints FILE, --store URL)")


def _walk(console: Console, path: Path, anchors: frozenset[int]) -> VerifyReport:
    try:
        size = path.stat().st_size if path.is_file() else 0
    except OSError:
        size = 0
    try:
        if console.is_terminal and size > 8 << 20:
            with Progress(*Progress.get_default_columns(), DownloadColumn(),
                          console=console, transient=True) as bar:
                task = bar.add_task(f"verifying {path.name}", total=size)
                return verify_log(path, lambda done: bar.update(task, completed=done),
                                  anchors=anchors)
        return verify_log(path, anchors=anchors)
    except AuditTampered as exc:
        typer.echo(f"zonegate: audit: TAMPERED {exc}", err=True)
        raise typer.Exit(1) from None


def _store_checkpoints(url: str) -> list[Checkpoint]:
    # imported here: the store pulls in SQLAlchemy, which a plain chain walk never needs
    from gateway.store import Store

    with Store.open(url) as opened:
        return read_store_checkpoints(opened.audit, f"store {opened.url}")


def _print_match(console: Console, match: CheckpointMatch, report: VerifyReport) -> None:
    latest = match.latest
    if latest is None:
        console.print(f"  warning: none of the {match.read} checkpoint(s) read is of this "
                      "chain: nothing anchors its tail")
    else:
        console.print(f"  checkpoints: {match.matched} of this chain matched, the latest "
                      f"at {latest.time} saw seq {latest.seq}"
                      f"{' (final, after shutdown)' if latest.final else ''}")
        if report.last_kind != "shutdown":
            console.print(f"  note: the log ends without a shutdown record (the gateway is "
                          f"running or was killed); records after seq {latest.seq} are not "
                          "covered by a checkpoint yet")
    if match.other_chain_here:
        console.print(f"  note: {match.other_chain_here} checkpoint(s) name this path but "
                      "another chain (a log rotated away, or this one replaced from its "
                      f"first record): this chain is {report.first or 'empty'}")
