"""The chart's default zones match policies/data/zones.json, the zones the policy knows.

The policy (policies/authz.rego) routes `/zones/<name>/…` to zone `<name>` and reads the
zone's level and admitted source segments from zones.json; the chart's values give each
zone its gateway route and its NetworkPolicy, and the zones' `sources` shape who may
connect to the gateway at all. A zone in one but not the other is either unreachable or
unsegmented; sources that drift would let the NetworkPolicy drop callers the policy
admits.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helm._chart import ZONES_JSON, default_values


@pytest.fixture
def policy_zones() -> dict[str, Any]:
    if not ZONES_JSON.is_file():
        pytest.skip(f"{ZONES_JSON.relative_to(ZONES_JSON.parents[2])} does not exist yet")
    data = json.loads(ZONES_JSON.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        pytest.fail(f"{ZONES_JSON}: expected an object of zone name -> zone settings")
    return data


def _chart_zones() -> dict[str, dict[str, Any]]:
    return {zone["name"]: zone for zone in default_values()["zones"]}


def test_same_zone_names(policy_zones: dict[str, Any]) -> None:
    assert sorted(_chart_zones()) == sorted(policy_zones)


@pytest.mark.parametrize("field", ["level", "prefix", "sources"])
def test_zone_field_matches_the_policy(policy_zones: dict[str, Any], field: str) -> None:
    for name, zone in _chart_zones().items():
        if name not in policy_zones:
            continue  # reported by test_same_zone_names
        expected = f"/zones/{name}/" if field == "prefix" else policy_zones[name][field]
        assert zone.get(field) == expected, f"zone {name}: {field}"


def test_every_policy_zone_is_segmented(policy_zones: dict[str, Any]) -> None:
    for name in policy_zones:
        zone = _chart_zones().get(name)
        assert zone is not None, f"zone {name} has no NetworkPolicy in the chart's values"
        assert zone["upstream"]["podSelector"], name
        assert zone["upstream"]["ports"], name
