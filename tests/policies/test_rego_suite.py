"""The shipped policies' own Rego tests (policies/*_test.rego), one pytest case each."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.pdp.lint import check_source
from gateway.pdp.source import load_source
from gateway.pdp.testing import PolicyTestReport, run_tests

POLICIES = Path(__file__).resolve().parents[2] / "policies"
_SOURCE = load_source(POLICIES)
_REPORT: PolicyTestReport = run_tests(_SOURCE, coverage=True)
EXPECTED = {
    "zonegate.authz_test": ["test_authentication", "test_microsegmentation", "test_bypass",
                            "test_clearance", "test_device_trust", "test_dynamic_conditions",
                            "test_break_glass", "test_decision_is_complete"],
    "zonegate.egress_test": ["test_destinations", "test_bypasses", "test_classes",
                             "test_trust", "test_unmanaged_class_admits_unknown_devices",
                             "test_decision_is_complete"],
}


def test_every_expected_suite_exists() -> None:
    found: dict[str, list[str]] = {}
    for r in _REPORT.results:
        found.setdefault(r.rule.removeprefix("data.").rsplit(".", 1)[0], []).append(r.name)
    assert {k: sorted(v) for k, v in found.items()} == {
        k: sorted(v) for k, v in EXPECTED.items()}


@pytest.mark.parametrize("result", _REPORT.results, ids=[r.name for r in _REPORT.results])
def test_rego_test_passes(result: object) -> None:
    from gateway.pdp.testing import PolicyTestResult

    assert isinstance(result, PolicyTestResult)
    assert result.status == "pass", f"{result.rule}: {result.detail}\n" + "\n".join(result.prints)


@pytest.mark.parametrize("policy", ["authz.rego", "egress.rego"])
def test_coverage_of_the_decision_policies(policy: str) -> None:
    assert _REPORT.coverage is not None
    [report] = [c for c in _REPORT.coverage if c.file == policy]
    assert report.percent >= 95.0, f"not covered: {report.not_covered}"


def test_policies_are_lint_clean() -> None:
    assert check_source(_SOURCE) == []


def test_every_zone_has_the_fields_the_policy_reads() -> None:
    zones = _SOURCE.data["zonegate"]["zones"]  # type: ignore[index,call-overload]
    assert set(zones) == {"health", "transport", "citizen", "open"}
    for name, zone in zones.items():
        assert zone["level"] in {"L1", "L2", "L3", "L4", "L5", "L6"}, name
        assert isinstance(zone["max_risk"], int), name
        assert zone["grants"] and all(g["methods"] for g in zone["grants"]), name
