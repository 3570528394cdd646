"""The `opa test`-style runner and `zonegate policy check` lint."""

from __future__ import annotations

import pytest

from gateway.pdp.lint import check_source, entrypoints
from gateway.pdp.source import load_source
from gateway.pdp.testing import run_tests
from tests.gateway.pdp.conftest import POLICIES, VECTORS

BAD = VECTORS / "policies"


def test_shipped_policy_tests_pass_with_full_coverage() -> None:
    report = run_tests(load_source(POLICIES), coverage=True)
    assert report.ok
    assert report.count("pass") == len(report.results) >= 8
    assert report.coverage is not None
    assert [f.file for f in report.coverage] == ["authz.rego", "egress.rego"]
    assert report.coverage_percent is not None and report.coverage_percent >= 95.0


def test_failures_errors_and_skips_are_reported() -> None:
    report = run_tests(load_source(BAD / "failing_test"))
    by_name = {r.name: r for r in report.results}
    assert by_name["test_anonymous_denied"].status == "pass"
    failed = by_name["test_authenticated_denied"]
    assert failed.status == "fail" and failed.detail == "undefined"
    assert any("decision was" in line for line in failed.prints)
    assert by_name["test_errors"].status == "error"
    assert "could not parse string as number" in by_name["test_errors"].detail
    assert by_name["todo_test_later"].status == "skip"
    assert not report.ok


def test_match_filters_tests() -> None:
    report = run_tests(load_source(POLICIES), match="bypass")
    assert [r.name for r in report.results] == ["test_bypass", "test_bypasses"]


def test_no_tests_is_not_ok() -> None:
    assert not run_tests(load_source(BAD / "runtime_error")).ok


@pytest.mark.parametrize(("policy", "expected"), [
    ("clean", []),
    ("unknown_builtin", [("unknown-builtin", 9, "error")]),
    ("missing_default", [("missing-default", 5, "error")]),
    ("unreachable", [("unreachable-rule", 9, "warning")]),
    ("undefined_entrypoint", [("entrypoint-undefined", 5, "error")]),
    ("parse_error", [("parse-error", 5, "error")]),
])
def test_lint_findings(policy: str, expected: list[tuple[str, int, str]]) -> None:
    findings = check_source(load_source(BAD / policy))
    assert [(f.code, f.line, f.severity) for f in findings] == expected
    assert all(str(f).startswith(f"{f.file}:{f.line}: ") for f in findings)


def test_shipped_policy_is_lint_clean() -> None:
    assert check_source(load_source(POLICIES)) == []


def test_entrypoint_annotation_is_found() -> None:
    found = entrypoints(load_source(POLICIES))
    assert [(f, name) for f, _, name in found] == [("authz.rego", "decision"),
                                                    ("egress.rego", "decision")]
