"""gateway.pdp.nesting: regorus's parse time bounded for every reader of policy."""

from __future__ import annotations

from pathlib import Path

import pytest
import regorus

from gateway.pdp.nesting import MAX_NESTING_COST, PolicyTooNested, nesting_cost
from gateway.pdp.port import PolicyLoadError
from gateway.pdp.source import load_source, source_from_files

ROOT = Path(__file__).resolve().parents[3]
DEEP = "package deep\n\nx := " + "[" * 22 + "1" + "]" * 22 + "\n"  # regorus: hours


@pytest.mark.parametrize(("text", "cost"), [
    ('x := [[1]]', 6),
    ('x := [1, [2], {"a": [3]}]', 18),  # 2 * (1 + 2 + 2 * (1 + 2))
    ('x := count([[1]])', 6),  # a call passes on what it holds
    ('x if { y := [1] }', 2),  # a rule body starts afresh
    ('x if { every a in [1] { b := [[a]] } }', 8),
    ('x := "[[[[[[[[[["  # [[[[[[[[', 0),  # strings and comments are skipped
    ('x := `[[[[[[`', 0),
])
def test_nesting_cost(text: str, cost: int) -> None:
    assert nesting_cost(f"package p\n\n{text}\n") == cost


def test_the_bound_admits_the_shipped_policies_not_deep_literals() -> None:
    shipped = sum(nesting_cost(p.read_text(encoding="utf-8"))
                  for p in (ROOT / "policies").rglob("*.rego"))
    assert 0 < shipped < MAX_NESTING_COST // 20
    chain = [nesting_cost("x := " + "[" * d + "1" + "]" * d) for d in range(1, 40)]
    # 17 levels (about 6 s for regorus) pass, 18 (12 s, doubling on) do not
    assert max(d for d, cost in enumerate(chain, start=1) if cost <= MAX_NESTING_COST) == 17
    # ten levels pass the bound, and regorus parses them (tens of milliseconds: timings
    # are docs/policy.md's, not a test's)
    ten = "package deep\n\nx := " + "[" * 10 + "1" + "]" * 10 + "\n"
    assert source_from_files("upload", {"deep.rego": ten.encode()}).modules
    engine = regorus.Engine()
    engine.add_policy("deep.rego", ten)
    assert engine.eval_rule("data.deep.x") == [[[[[[[[[[1]]]]]]]]]]


def test_every_reader_refuses_deep_literals_before_parsing(tmp_path: Path) -> None:
    with pytest.raises(PolicyTooNested, match=r"upload/deep.rego: .* too deeply") as raised:
        source_from_files("upload", {"deep.rego": DEEP.encode()})
    assert isinstance(raised.value, PolicyLoadError)  # the policy in force stays
    (tmp_path / "deep.rego").write_text(DEEP, encoding="utf-8")
    with pytest.raises(PolicyTooNested, match=r"deep\.rego"):
        load_source(tmp_path)

