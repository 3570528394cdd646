"""`zonegate policy …`: the security officers' Rego workflow.

    zonegate policy test [DIR] [--coverage] [--format text|json] [--run PATTERN]
    zonegate policy check DIR [--strict]
    zonegate policy eval --input FILE [--bundle DIR] [--explain]
    zonegate policy bundle build DIR --out B.tar.gz [--signing-key K --key-id ID --alg ES256]
    zonegate policy bundle verify B.tar.gz --public-key K [--key-id ID] [--scope S]
    zonegate policy replay --decisions LOG --bundle NEW [--format text|json]

Exit codes: 0 success, 1 tests failed / lint errors found, 2 bad input (one-line error).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gateway.pdp.bundle import build_bundle, verify_bundle
from gateway.pdp.embedded import DEFAULT_DECISION, CompiledPolicy
from gateway.pdp.explain import explain
from gateway.pdp.lint import check_source
from gateway.pdp.port import Decision, JSONObject, JSONValue, PDPError
from gateway.pdp.rego import compile_policy
from gateway.pdp.replay import replay as replay_log
from gateway.pdp.source import load_source
from gateway.pdp.testing import PolicyTestReport, run_tests

app = typer.Typer(help="Rego policy: test, check, eval, bundle build|verify, replay.",
                  no_args_is_help=True)
bundle_app = typer.Typer(help="OPA bundles: build and verify.", no_args_is_help=True)
app.add_typer(bundle_app, name="bundle")

DirArg = Annotated[Path, typer.Argument(help="Policy directory (bundle root) or bundle.")]
Format = Annotated[str, typer.Option("--format", help="text | json")]
PublicKeyOpt = Annotated[Path | None, typer.Option(
    "--public-key", help="PEM public key to verify a signed bundle.")]


def _console() -> Console:
    return Console(highlight=False)


def _check_format(value: str) -> None:
    if value not in ("text", "json"):
        raise PDPError(f"--format: must be text or json, got {value!r}")


def _key(path: Path | None) -> bytes | None:
    return None if path is None else _read_bytes(path, "public key")


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise PDPError(f"{what} {path}: cannot read: {exc.strerror}") from None


@app.command("test")
def test(
    directory: DirArg = Path("policies"),
    coverage: Annotated[bool, typer.Option("--coverage", help="Report line coverage.")] = False,
    fmt: Format = "text",
    run: Annotated[str | None, typer.Option("--run", help="Only tests containing this.")] = None,
) -> None:
    """Run the policy tests (rules named test_*) as `opa test` does."""
    _check_format(fmt)
    console = _console()
    source = load_source(directory)
    with console.status("running policy tests", spinner="dots") if console.is_terminal \
            else contextlib.nullcontext():
        report = run_tests(source, coverage=coverage, match=run)
    if fmt == "json":
        print(json.dumps(_report_json(report), indent=2))
    else:
        _print_report(console, report)
    if not report.ok:
        raise typer.Exit(1)


def _report_json(report: PolicyTestReport) -> JSONObject:
    doc: JSONObject = {
        "results": [
            {"package": r.package, "name": r.name, "status": r.status, "detail": r.detail,
             "prints": list(r.prints), "duration_ns": r.duration_ns}
            for r in report.results
        ],
        "summary": {s: report.count(s) for s in ("pass", "fail", "error", "skip")},
    }
    if report.coverage is not None:
        doc["coverage"] = {
            "percent": report.coverage_percent,
            "files": {f.file: {"percent": f.percent, "covered": list(f.covered),
                               "not_covered": list(f.not_covered)} for f in report.coverage},
        }
    return doc


def _print_report(console: Console, report: PolicyTestReport) -> None:
    styles = {"pass": "green", "fail": "red", "error": "red", "skip": "yellow"}
    for r in report.results:
        label = r.status.upper()
        timing = f" ({r.duration_ns / 1e6:.1f}ms)" if r.status != "skip" else ""
        detail = f": {escape(r.detail)}" if r.detail and r.status != "pass" else ""
        console.print(f"[{styles[r.status]}]{label}[/] {r.rule}{timing}{detail}")
        if r.status in ("fail", "error"):
            for line in r.prints:
                console.print(f"    {escape(line)}")
    ran = len(report.results) - report.count("skip")
    summary = f"{report.count('pass')}/{ran} passed"
    if report.count("fail") or report.count("error"):
        summary += f", {report.count('fail')} failed, {report.count('error')} errors"
    if report.count("skip"):
        summary += f", {report.count('skip')} skipped"
    if not report.results:
        summary = "no tests found"
    console.print(("[green]" if report.ok else "[red]") + summary + "[/]")
    if report.coverage is not None:
        table = Table(title=f"coverage {report.coverage_percent:.1f}%")
        table.add_column("file")
        table.add_column("lines", justify="right")
        table.add_column("covered", justify="right")
        table.add_column("not covered")
        for f in report.coverage:
            total = len(f.covered) + len(f.not_covered)
            missing = ",".join(str(n) for n in f.not_covered) or "-"
            table.add_row(f.file, str(total), f"{f.percent:.1f}%", missing)
        console.print(table)


@app.command("check")
def check(
    directory: Annotated[Path, typer.Argument(help="Policy directory (bundle root).")],
    strict: Annotated[bool, typer.Option("--strict", help="Warnings fail too.")] = False,
) -> None:
    """Parse and lint: unknown builtins, missing defaults, unreachable rules (file:line)."""
    console = _console()
    source = load_source(directory)
    findings = check_source(source)
    # paths as given on the command line, one finding a line however narrow the terminal
    # or pipe (so `grep`/editors can jump to file:line)
    base = directory if directory.is_dir() else None
    for finding in findings:
        colour = "red" if finding.severity == "error" else "yellow"
        where = str(base / finding.file) if base is not None else finding.file
        line = f"{where}:{finding.line}: {finding.severity}: {finding.code}: {finding.message}"
        console.print(f"[{colour}]{escape(line)}[/]", soft_wrap=True)
    errors = sum(1 for f in findings if f.severity == "error")
    warnings = len(findings) - errors
    if not findings:
        console.print(f"[green]ok[/] {len(source.modules)} module(s), no findings")
    else:
        console.print(f"{errors} error(s), {warnings} warning(s)")
    if errors or (strict and warnings):
        raise typer.Exit(1)


@app.command("eval")
def eval_(
    input_file: Annotated[Path, typer.Option("--input", help="JSON input document, or -.")],
    bundle: Annotated[Path, typer.Option("--bundle", help="Policy directory or bundle.")] = Path(
        "policies"),
    decision: Annotated[str, typer.Option(help="Decision path.")] = DEFAULT_DECISION,
    explain_: Annotated[bool, typer.Option("--explain",
                                           help="Show rule values and lines.")] = False,
    public_key: PublicKeyOpt = None,
) -> None:
    """Evaluate the decision for an input and print it as JSON.

    stdout is the policy's raw result; one line on stderr says what the gateway makes of it
    (a malformed result is a deny, an undefined one a 503), so an officer never mistakes a
    result the gateway would refuse for an allow.
    """
    input_doc = _read_input(input_file)
    source = load_source(bundle, verification_key=_key(public_key))
    if not explain_:
        policy = CompiledPolicy(source, decision)
        raw = policy.evaluate_raw(input_doc)
        print(json.dumps(raw, indent=2, sort_keys=True))
        typer.echo(enforced(raw), err=True)
        return
    result = explain(source.without_tests(), decision, input_doc)
    console = _console()
    print(json.dumps(result.result, indent=2, sort_keys=True))
    typer.echo(enforced(result.result), err=True)
    table = Table(title="rule values")
    table.add_column("rule")
    table.add_column("value")
    for name, value, error in result.rules:
        shown = f"error: {error}" if error else ("undefined" if value is None
                                                  else json.dumps(value, sort_keys=True))
        table.add_row(name, escape(shown))
    console.print(table)
    for f in result.coverage:
        lines = ",".join(str(n) for n in f.covered) or "-"
        console.print(f"evaluated lines of {f.file}: {lines}")


def enforced(raw: JSONValue) -> str:
    """How the gateway enforces a raw decision result, in one line."""
    if raw is None:
        return "gateway: 503 pdp-unavailable (the decision is undefined)"
    decision = Decision.from_result(raw)
    reasons = ", ".join(decision.reasons)
    verdict = "allow" if decision.allow else "deny"
    return f"gateway: {verdict}" + (f" ({reasons})" if reasons else "")


def _read_input(path: Path) -> JSONObject:
    raw = typer.get_binary_stream("stdin").read() if str(path) == "-" else _read_bytes(path,
                                                                                          "input")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise PDPError(f"input {path}: not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise PDPError(f"input {path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise PDPError(f"input {path}: JSON nested too deeply") from None
    if not isinstance(doc, dict):
        raise PDPError(f"input {path}: must be a JSON object (the policy input)")
    return doc


@bundle_app.command("build")
def bundle_build(
    directory: Annotated[Path, typer.Argument(help="Policy directory (bundle root).")],
    out: Annotated[Path, typer.Option("--out", help="Bundle to write (.tar.gz).")],
    revision: Annotated[str | None, typer.Option(help="Revision (default: content hash).")] = None,
    signing_key: Annotated[Path | None, typer.Option("--signing-key",
                                                     help="PEM private key.")] = None,
    key_id: Annotated[str | None, typer.Option("--key-id", help="Key id (kid).")] = None,
    alg: Annotated[str, typer.Option("--alg", help="ES256 | RS256")] = "ES256",
) -> None:
    """Build an OPA bundle (.manifest, data.json, *.rego, .signatures.json when signed)."""
    if signing_key is None and key_id is not None:
        raise PDPError("--key-id needs --signing-key")
    key = _read_bytes(signing_key, "signing key") if signing_key is not None else None
    compile_policy(load_source(directory))  # refuse a bundle that would not load
    report = build_bundle(directory, out, revision=revision, signing_key=key, key_id=key_id,
                          algorithm=alg)
    signed = f", signed {alg}" + (f" (kid {key_id})" if key_id else "") if report.signed else ""
    _console().print(f"[green]built[/] {out}: revision {report.revision}, "
                     f"{len(report.files)} file(s){signed}")


@bundle_app.command("verify")
def bundle_verify(
    bundle: Annotated[Path, typer.Argument(help="Bundle (.tar.gz).")],
    public_key: Annotated[Path, typer.Option("--public-key",
                                             help="PEM public key or certificate.")],
    key_id: Annotated[str | None, typer.Option("--key-id", help="Expected key id.")] = None,
    scope: Annotated[str, typer.Option(help="Expected scope claim.")] = "",
) -> None:
    """Verify a signed bundle: signature, every file hash, no extra or missing file."""
    report = verify_bundle(bundle, _read_bytes(public_key, "public key"), key_id=key_id,
                           scope=scope)
    console = _console()
    for name in report.files:
        console.print(f"  ok {name}")
    console.print(f"[green]verified[/] {bundle}: revision {report.revision or '-'}, "
                  f"key id {report.key_id or '-'}, {len(report.files)} file(s)")


@app.command("replay")
def replay(
    decisions: Annotated[Path, typer.Option("--decisions", help="Decision log (JSONL).")],
    bundle: Annotated[Path, typer.Option("--bundle", help="Candidate policy (dir or bundle).")],
    decision: Annotated[str, typer.Option(help="Decision path.")] = DEFAULT_DECISION,
    fmt: Format = "text",
    public_key: PublicKeyOpt = None,
) -> None:
    """Re-evaluate logged inputs under a candidate policy; list what would change."""
    _check_format(fmt)
    console = _console()
    policy = CompiledPolicy(load_source(bundle, verification_key=_key(public_key)), decision)
    with console.status("replaying decisions", spinner="dots") if console.is_terminal \
            else contextlib.nullcontext():
        report = replay_log(decisions, policy)
    if fmt == "json":
        print(json.dumps({
            "total": report.total,
            "changes": [{"decision_id": c.decision_id, "line": c.line, "kind": c.kind,
                         "detail": c.detail, "input": c.input} for c in report.changes],
        }, indent=2))
        return
    table = Table(title=f"{len(report.changes)} of {report.total} decisions would change")
    for column in ("line", "decision_id", "change", "detail", "request"):
        table.add_column(column)
    for c in report.changes:
        request = c.input.get("request")
        summary = ""
        if isinstance(request, dict):
            summary = f"{request.get('method', '')} {request.get('path', '')}"
        table.add_row(str(c.line), c.decision_id, c.kind, escape(c.detail), escape(summary))
    console.print(table)
    counts = ", ".join(f"{k}: {report.count(k)}"
                       for k in ("allow->deny", "deny->allow", "reasons", "error"))
    console.print(counts)
