"""Run a bundle's Rego tests the way `opa test` does, with optional line coverage.

A test is a rule whose name starts with ``test_`` (``todo_test_`` rules are reported as
skipped). It passes when it evaluates to ``true``; undefined or any other value fails, and
an evaluation error is reported as an error. What the test printed (``print(...)``) is
kept, so table-driven tests can say which case failed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import regorus

from gateway.pdp.port import PolicyLoadError
from gateway.pdp.rego import compile_policy, engine_message, rule_sites
from gateway.pdp.source import PolicySource


@dataclass(frozen=True, slots=True)
class PolicyTestResult:
    """The outcome of one test rule."""

    package: str
    name: str
    status: str  # "pass" | "fail" | "error" | "skip"
    detail: str
    prints: tuple[str, ...]
    duration_ns: int

    @property
    def rule(self) -> str:
        """``data.<package>.<name>``."""
        return f"data.{self.package}.{self.name}"


@dataclass(frozen=True, slots=True)
class FileCoverage:
    """Covered and not-covered lines of one module."""

    file: str
    covered: tuple[int, ...]
    not_covered: tuple[int, ...]

    @property
    def percent(self) -> float:
        """Share of evaluated lines, 0-100 (100 for a module without evaluable lines)."""
        total = len(self.covered) + len(self.not_covered)
        return 100.0 if total == 0 else 100.0 * len(self.covered) / total


@dataclass(frozen=True, slots=True)
class PolicyTestReport:
    """All results of one run, and coverage when asked for."""

    results: tuple[PolicyTestResult, ...]
    coverage: tuple[FileCoverage, ...] | None

    @property
    def ok(self) -> bool:
        """True when no test failed or errored (and at least one ran)."""
        ran = [r for r in self.results if r.status != "skip"]
        return bool(ran) and all(r.status == "pass" for r in ran)

    def count(self, status: str) -> int:
        """How many results have `status`."""
        return sum(1 for r in self.results if r.status == status)

    @property
    def coverage_percent(self) -> float | None:
        """Overall line coverage of the non-test modules, or None without coverage."""
        if self.coverage is None:
            return None
        covered = sum(len(f.covered) for f in self.coverage)
        total = covered + sum(len(f.not_covered) for f in self.coverage)
        return 100.0 if total == 0 else 100.0 * covered / total


def run_tests(
    source: PolicySource, *, coverage: bool = False, match: str | None = None
) -> PolicyTestReport:
    """Compile `source` and run its tests; raises `PolicyLoadError` if it does not compile."""
    engine = compile_policy(source, coverage=coverage)
    seen: set[tuple[str, str]] = set()
    results: list[PolicyTestResult] = []
    for site in rule_sites(engine):
        key = (site.package, site.name)
        if site.is_function or key in seen:
            continue
        if not (site.name.startswith("test_") or site.name.startswith("todo_test_")):
            continue
        seen.add(key)
        if match is not None and match not in f"{site.package}.{site.name}":
            continue
        results.append(_run_one(engine, site.package, site.name))
    report_coverage = coverage_of(engine, source) if coverage else None
    return PolicyTestReport(tuple(results), report_coverage)


def _run_one(engine: regorus.Engine, package: str, name: str) -> PolicyTestResult:
    if name.startswith("todo_"):
        return PolicyTestResult(package, name, "skip", "todo", (), 0)
    engine.take_prints()
    start = time.perf_counter_ns()
    try:
        value = engine.eval_rule(f"data.{package}.{name}")
    except RuntimeError as exc:
        status, detail = "error", engine_message(exc)
    else:
        if value is True:
            status, detail = "pass", ""
        else:
            status, detail = "fail", "undefined" if value is None else f"evaluated to {value!r}"
    elapsed = time.perf_counter_ns() - start
    prints = tuple(engine.take_prints())
    return PolicyTestResult(package, name, status, detail, prints, elapsed)


def coverage_of(engine: regorus.Engine, source: PolicySource) -> tuple[FileCoverage, ...]:
    """Line coverage of the non-test modules from the engine's coverage report."""
    tests = {path for path, _ in source.test_modules}
    try:
        report = json.loads(engine.get_coverage_report_as_json())
    except (RuntimeError, json.JSONDecodeError) as exc:
        raise PolicyLoadError(f"{source.origin}: no coverage report: {exc}") from None
    files = report.get("files") if isinstance(report, dict) else None
    out = []
    for entry in files if isinstance(files, list) else []:
        path = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(path, str) or path in tests:
            continue
        covered = {n for n in entry.get("covered", []) if isinstance(n, int)}
        missed = {n for n in entry.get("not_covered", []) if isinstance(n, int)} - covered
        out.append(FileCoverage(path, tuple(sorted(covered)), tuple(sorted(missed))))
    return tuple(sorted(out, key=lambda f: f.file))
