"""`zonegate classify`: tag text, JSON and CSV with sensitivity levels (contract 4).

    zonegate classify [--format json|table] [--type auto|text|json|csv] PATH|-
    zonegate classify --mask --above L3 [--mode mask|redact|pseudonym] PATH|-

Text is read in chunks at line ends, so a large log is scanned in constant memory (apart
from its findings), with a progress bar when stderr is a terminal. JSON and CSV are parsed
whole. Options may come before or after PATH. Errors, usage errors included, are
`ClassifyError`s: the CLI main prints them on one line and exits 2.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table
from typer.core import TyperGroup
from typer.exceptions import TyperException

from classify import Classifier, ScanResult
from classify.errors import ClassifyError, InputError
from classify.levels import is_level, rank

if TYPE_CHECKING:  # typer vendors Click; its Context is what TyperGroup's methods take
    from typer._click.core import Context


class _ClassifyCommand(TyperGroup):
    """`classify` is a Typer sub-app, so Click builds a group for it; it has no
    subcommands, so parse it as one command: options may follow PATH (`classify - --format
    table`), a stray word is an extra argument, and a usage error is contract 1's one-line
    error with exit 2 instead of Click's multi-line box."""

    allow_interspersed_args = True
    allow_extra_args = False

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        return super(TyperGroup, self).collect_usage_pieces(ctx)  # no "COMMAND [ARGS]..."

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        try:
            # the plain command's parsing: TyperGroup's would split off a subcommand
            return super(TyperGroup, self).parse_args(ctx, args)
        except TyperException as exc:  # typer's Click usage errors derive from it
            raise ClassifyError(f"classify: {exc.format_message()} "
                                "(see 'zonegate classify --help')") from exc


app = typer.Typer(help="Classify text, JSON or CSV by sensitivity level.",
                  invoke_without_command=True, cls=_ClassifyCommand)

CHUNK = 1 << 20
_KEY_ENV = "ZONEGATE_CLASSIFY_KEY"


@app.callback()
def classify(
    path: Annotated[str, typer.Argument(
        metavar="PATH", help="File to classify, or - for standard input.")],
    fmt: Annotated[str, typer.Option("--format", help="json | table")] = "json",
    kind: Annotated[str, typer.Option("--type", help="auto | text | json | csv")] = "auto",
    catalog: Annotated[Path | None, typer.Option(
        "--catalog", help="YAML catalog merged over the shipped one.")] = None,
    mask: Annotated[bool, typer.Option(
        "--mask", help="Print the document with values above --above masked.")] = False,
    above: Annotated[str, typer.Option(help="Mask findings above this level.")] = "L3",
    mode: Annotated[str, typer.Option(help="mask | redact | pseudonym")] = "mask",
    delimiter: Annotated[str | None, typer.Option(help="CSV delimiter (sniffed).")] = None,
    no_header: Annotated[bool, typer.Option(
        "--no-header", help="The CSV has no header row.")] = False,
    fail_above: Annotated[str | None, typer.Option(
        "--fail-above", help="Exit 1 when the document level is above this level.")] = None,
) -> None:
    """Classify a file or standard input."""
    if fmt not in ("json", "table"):
        raise ClassifyError(f"--format: must be json or table, got {fmt!r}")
    if kind not in ("auto", "text", "json", "csv"):
        raise ClassifyError(f"--type: must be auto, text, json or csv, got {kind!r}")
    if delimiter is not None and len(delimiter) != 1:
        raise ClassifyError(f"--delimiter: must be one character, got {delimiter!r}")
    for name, value in (("--above", above), ("--fail-above", fail_above)):
        if value is not None and not is_level(value):
            raise ClassifyError(f"{name}: must be one of L1..L6, got {value!r}")
    key = _pseudonym_key() if mask and mode == "pseudonym" else None
    clf = Classifier.from_catalog(catalog) if catalog is not None else Classifier.default()
    label = "<stdin>" if path == "-" else path
    with _open(path) as stream:
        kind = _resolve_kind(kind, path)
        if kind == "text":
            result = _text(clf, stream, label, mask=mask, above=above, mode=mode, key=key)
        else:
            body = _read_all(stream, label)
            result = _structured(clf, body, kind, label, mask=mask, above=above, mode=mode,
                                 key=key, delimiter=delimiter, header=not no_header)
    if not mask:
        _print(result, fmt, label)
    if fail_above is not None and rank(result.level) > rank(fail_above):
        raise typer.Exit(1)


def _pseudonym_key() -> bytes:
    value = os.environ.get(_KEY_ENV, "")
    if len(value.encode()) < 16:
        raise ClassifyError(f"--mode pseudonym: set {_KEY_ENV} to a secret of at least 16 bytes")
    return value.encode()


def _open(path: str) -> nullcontext[IO[str]] | IO[str]:
    if path == "-":
        return nullcontext(sys.stdin)
    try:
        return Path(path).open(encoding="utf-8", newline="")
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror or exc}") from exc


def _resolve_kind(kind: str, path: str) -> str:
    if kind != "auto":
        return kind
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".csv", ".tsv"):
        return "csv"
    return "text"


def _read_all(stream: IO[str], label: str) -> str:
    try:
        return stream.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{label}: cannot read as UTF-8: {exc}") from exc


def _chunks(stream: IO[str], label: str, progress: Progress | None) -> Iterator[str]:
    task = progress.add_task(label, total=_size(stream)) if progress is not None else None
    carry = ""
    while True:
        try:
            block = stream.read(CHUNK)
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{label}: cannot read as UTF-8: {exc}") from exc
        if progress is not None and task is not None:
            progress.advance(task, len(block.encode("utf-8")))
        if not block:
            if carry:
                yield carry
            return
        block = carry + block
        cut = block.rfind("\n") + 1
        if cut == 0 and len(block) < 8 * CHUNK:
            carry = block  # a very long line: wait for its end, up to 8 chunks
            continue
        cut = cut or len(block)
        carry = block[cut:]
        yield block[:cut]


def _size(stream: IO[str]) -> float | None:
    try:
        return float(os.fstat(stream.fileno()).st_size) or None
    except (OSError, ValueError):
        return None


def _text(clf: Classifier, stream: IO[str], label: str, *, mask: bool, above: str, mode: str,
          key: bytes | None) -> ScanResult:
    show = sys.stderr.isatty()
    progress = Progress(TextColumn("{task.description}"), BarColumn(), TransferSpeedColumn(),
                        console=Console(stderr=True), transient=True) if show else None
    with progress if progress is not None else nullcontext():
        chunks = _chunks(stream, label, progress)
        if not mask:
            return clf.scan_chunks(chunks)
        # Masking streams chunk by chunk: combination rules see one chunk at a time.
        results = []
        for chunk in chunks:
            masked, result = clf.mask_text(chunk, above, mode=mode, key=key)
            sys.stdout.write(masked)
            results.append(result)
        sys.stdout.flush()
    levels = [r.level for r in results] or ["L1"]
    return ScanResult(level=max(levels, key=rank), categories=sorted(
        {c for r in results for c in r.categories}), findings=[])


def _structured(clf: Classifier, body: str, kind: str, label: str, *, mask: bool, above: str,
                mode: str, key: bytes | None, delimiter: str | None,
                header: bool) -> ScanResult:
    if kind == "csv":
        try:
            if not mask:
                return clf.scan_csv(body, delimiter=delimiter, header=header)
            masked_csv, result = clf.mask_csv(body, above, mode=mode, key=key,
                                              delimiter=delimiter, header=header)
        except InputError as exc:  # the library does not know the file's name
            raise InputError(f"{label}: {exc}") from exc
        sys.stdout.write(masked_csv)
        return result
    try:
        obj = json.loads(body)
    except json.JSONDecodeError as exc:
        raise InputError(f"{label}: not valid JSON (line {exc.lineno}, column {exc.colno}): "
                         f"{exc.msg}") from exc
    except RecursionError as exc:
        raise InputError(f"{label}: JSON nested too deeply") from exc
    if mask:
        masked, result = clf.mask_json(obj, above, mode=mode, key=key)
        sys.stdout.write(json.dumps(masked, ensure_ascii=False, indent=2) + "\n")
        return result
    return clf.scan_json(obj)


def _print(result: ScanResult, fmt: str, label: str) -> None:
    if fmt == "json":
        sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
        return
    console = Console()
    console.print(f"[bold]{label}[/bold]: level [bold]{result.level}[/bold]  "
                  f"categories {', '.join(result.categories) or '-'}")
    table = Table(show_lines=False)
    for column in ("type", "category", "level", "where", "score", "masked"):
        table.add_column(column, justify="right" if column == "score" else "left")
    for finding in result.findings:
        where = f"{finding.path or ''}@{finding.start}-{finding.end}"
        table.add_row(finding.type, finding.category, finding.level, where,
                      f"{finding.score:.2f}", finding.masked)
    console.print(table)
    for column, kind in result.columns.items():
        console.print(f"  column {column}: {kind}")
