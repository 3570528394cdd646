"""`zonegate policy eval --explain`: why a decision came out as it did.

regorus has no trace like ``opa eval --explain``; this shows what it can measure honestly:
the value of every rule of the decision's package for this input (helpers included) and the
lines of the policy the evaluation touched (coverage of this one evaluation).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from gateway.pdp.embedded import plain_value, rule_path
from gateway.pdp.port import JSONObject, JSONValue, PDPUnavailable
from gateway.pdp.rego import compile_policy, engine_message, rule_sites
from gateway.pdp.source import PolicySource
from gateway.pdp.testing import FileCoverage, coverage_of


@dataclass(frozen=True, slots=True)
class Explanation:
    """The decision, each rule's value (or error), and the lines evaluated."""

    result: JSONValue
    rules: tuple[tuple[str, JSONValue | None, str], ...]  # (rule, value, error)
    coverage: tuple[FileCoverage, ...]


def explain(source: PolicySource, decision: str, input_doc: JSONObject) -> Explanation:
    """Evaluate `decision` for `input_doc` and collect rule values and touched lines."""
    rule = rule_path(decision)
    package = rule.removeprefix("data.").rsplit(".", 1)[0]
    engine = compile_policy(source, coverage=True)
    engine.set_input_json(json.dumps(input_doc, allow_nan=False))
    try:
        result = plain_value(engine.eval_rule(rule))
    except RuntimeError as exc:
        raise PDPUnavailable(f"policy evaluation failed: {engine_message(exc)}") from None
    covered = coverage_of(engine, source)
    values: list[tuple[str, JSONValue | None, str]] = []
    seen: set[str] = set()
    for site in rule_sites(engine):
        if site.package != package or site.is_function or site.name in seen:
            continue
        seen.add(site.name)
        try:
            value = plain_value(engine.eval_rule(f"data.{package}.{site.name}"))
            values.append((site.name, value, ""))
        except RuntimeError as exc:
            values.append((site.name, None, engine_message(exc)))
    return Explanation(result, tuple(values), covered)
