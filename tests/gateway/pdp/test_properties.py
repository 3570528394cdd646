"""Property tests: no input opens a door, and no input crashes or hangs the engine."""

from __future__ import annotations

import copy
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.pdp import CompiledPolicy, Decision, PDPUnavailable
from gateway.pdp.embedded import decision_from_raw
from gateway.pdp.source import load_source
from tests.gateway.pdp.conftest import DOCTOR, POLICIES

POLICY = CompiledPolicy(load_source(POLICIES))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=10,
)
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def decide(doc: dict[str, object]) -> Decision | None:
    try:
        return decision_from_raw(POLICY.evaluate_raw(doc))  # type: ignore[arg-type]
    except PDPUnavailable:
        return None  # fail closed: the gateway answers 503


@SETTINGS
@given(st.dictionaries(st.sampled_from(["request", "subject", "device", "source", "resource",
                                        "context", "x"]), json_values, max_size=6))
def test_random_documents_never_allow(doc: dict[str, object]) -> None:
    decision = decide(doc)
    assert decision is None or decision.allow is False


@SETTINGS
@given(section=st.sampled_from(["request", "subject", "device", "source", "resource",
                                "context"]),
       key=st.text(max_size=12), value=json_values)
def test_one_odd_field_never_crashes(section: str, key: str, value: object) -> None:
    doc = copy.deepcopy(DOCTOR)
    doc[section][key] = value  # type: ignore[index]
    decide(doc)  # a Decision or PDPUnavailable, nothing else


@SETTINGS
@given(st.text(alphabet="/.%\\aA09-_~:;@\x00\n", min_size=0, max_size=24))
def test_only_canonical_paths_inside_the_zone_are_allowed(tail: str) -> None:
    doc = copy.deepcopy(DOCTOR)
    doc["request"]["path"] = "/zones/health" + tail  # type: ignore[index]
    doc["resource"]["path"] = tail  # type: ignore[index]
    decision = decide(doc)
    if decision is not None and decision.allow:
        assert tail.startswith("/")
        assert not any(bad in tail for bad in ("%", "\\", "//", "\x00", "\n"))
        assert not re.search(r"(^|/)\.\.?(/|$)", tail)


@SETTINGS
@given(st.sampled_from(["health", "transport", "citizen", "open"]),
       st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12))
def test_a_path_of_another_zone_is_never_allowed(zone: str, other: str) -> None:
    doc = copy.deepcopy(DOCTOR)
    doc["request"]["path"] = f"/zones/{other}/records/7"  # type: ignore[index]
    doc["resource"]["zone"] = zone  # type: ignore[index]
    decision = decide(doc)
    if other != zone:
        assert decision is None or decision.allow is False
