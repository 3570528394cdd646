"""Live shadow mode: `ShadowSweep` over a real store (SQLite and PostgreSQL) and the real
regorus engine, fed decisions as a gateway indexes them; and the change audit of setting
and clearing the shadow."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from gateway.control.policy_service import PolicyService
from gateway.control.shadow_sweep import ShadowSweep
from gateway.store import DecisionRecord, StoreError
from tests.gateway.control import test_policies_service as policies
from tests.gateway.control.test_policies_service import files, request

# the policy-service tests' fixtures: a real store (SQLite, PostgreSQL) and a service on it
store, keys, service = policies.store, policies.keys, policies.service


def indexed(service: PolicyService, name: str, at: datetime, zone: str, allow: bool, *,
            with_input: bool = True) -> DecisionRecord:
    """A decision as the gateway writes it: outcome, revision and the input it decided."""
    decision = DecisionRecord(
        decision_id=name, time=at, subject="alice", device=None, zone=zone, method="GET",
        path=f"/zones/{zone}/x", allow=allow, reasons=() if allow else ("zone-not-permitted",),
        level="L2", revision="v1", input=dict(request(zone)) if with_input else None)
    service.store.decisions.record(decision)
    return decision


@pytest.fixture
def shadowed(service: PolicyService) -> tuple[PolicyService, datetime]:
    """v1 (open) active, v2 (open and transport) the shadow; and when it was set."""
    service.upload_files(files(), "officer", revision="v1")
    service.upload_files(files(("open", "transport")), "officer", revision="v2",
                         activate=False)
    state = service.set_shadow("v2", "officer")
    assert state.set_at is not None
    return service, state.set_at


def test_each_indexed_decision_is_compared_once(shadowed: tuple[PolicyService, datetime]
                                                ) -> None:
    service, t0 = shadowed
    now = [t0 + timedelta(seconds=10)]
    sweep = ShadowSweep(service, settle=2.0, clock=lambda: now[0])
    indexed(service, "before", t0 - timedelta(seconds=1), "transport", False)  # not compared
    indexed(service, "a", t0 + timedelta(seconds=1), "open", True)  # both allow
    indexed(service, "b", t0 + timedelta(seconds=2), "transport", False)  # v2 allows
    indexed(service, "c", t0 + timedelta(seconds=2), "health", False)  # same instant
    indexed(service, "young", t0 + timedelta(seconds=9), "transport", False)  # not settled
    indexed(service, "no-input", t0 + timedelta(seconds=3), "transport", False,
            with_input=False)
    assert sweep.sweep() == 3
    state = service.shadow()
    assert state.compared == 3
    assert [(d.decision_id, d.kind, d.input_source) for d in state.disagreements] == [
        ("b", "deny->allow", "live")]
    assert sweep.sweep() == 0  # nothing new: nothing compared twice
    # late, but within the settle time: still compared; and one at the newest instant
    indexed(service, "late", t0 + timedelta(seconds=5), "transport", False)
    indexed(service, "b2", t0 + timedelta(seconds=3), "transport", False)
    now[0] = t0 + timedelta(seconds=12)
    assert sweep.sweep() == 3  # late, b2, young
    assert [d.decision_id for d in service.shadow().disagreements] == [
        "b", "b2", "late", "young"]
    assert service.active().revision == "v1"  # type: ignore[union-attr]
    # a new candidate starts afresh from when it was set: a, b, c and b2 (made after it,
    # settled), on which v1 agrees with what was enforced
    t1 = service.set_shadow("v1", "officer").set_at
    assert t1 is not None and t1 - t0 < timedelta(seconds=1)
    now[0] = t1 + timedelta(seconds=5)
    assert service.shadow().compared == 0
    assert sweep.sweep() == 4 and service.shadow().disagreements == ()
    service.clear_shadow("officer")
    now[0] += timedelta(seconds=10)
    assert sweep.sweep() == 0


def test_a_burst_over_the_cap_compares_the_newest(shadowed: tuple[PolicyService, datetime]
                                                  ) -> None:
    service, t0 = shadowed
    sweep = ShadowSweep(service, settle=0, max_per_sweep=3,
                        clock=lambda: t0 + timedelta(minutes=1))
    for n in range(5):
        indexed(service, f"d{n}", t0 + timedelta(seconds=n), "transport", False)
    assert sweep.sweep() == 3
    assert [d.decision_id for d in service.shadow().disagreements] == ["d2", "d3", "d4"]
    assert sweep.sweep() == 0


def test_the_sweeper_thread_serves_sweep_now(shadowed: tuple[PolicyService, datetime]
                                             ) -> None:
    service, t0 = shadowed
    sweep = ShadowSweep(service, interval=60, settle=0)  # only sweep_now wakes it
    sweep.start()
    try:
        indexed(service, "d1", t0 + timedelta(microseconds=1), "transport", False)
        assert sweep.sweep_now(timeout=30)
        assert [d.decision_id for d in service.shadow().disagreements] == ["d1"]
    finally:
        sweep.stop()
    indexed(service, "d2", t0 + timedelta(microseconds=2), "transport", False)
    assert sweep.sweep_now()  # stopped: the sweep runs in the caller
    assert service.shadow().compared == 2


def test_setting_and_clearing_the_shadow_is_audited(service: PolicyService) -> None:
    service.upload_files(files(), "officer", revision="v1")
    service.upload_files(files(("open", "transport")), "officer", revision="v2",
                         activate=False)
    service.clear_shadow("alice")  # nothing set: nothing changed, nothing audited
    service.set_shadow("v2", "officer")
    service.clear_shadow("bob")
    rows = [(a.action, a.actor, a.target, a.details)
            for a in service.store.audit.list(target="policy:v2").items]
    assert rows[:2] == [
        ("policy.shadow-clear", "bob", "policy:v2",
         {"set_by": "officer", "set_at": rows[0][3]["set_at"], "compared": 0,
          "disagreements": 0}),
        ("policy.shadow-set", "officer", "policy:v2", {"active": "v1", "replaces": None})]
    assert service.store.audit.list(action="policy.shadow-clear").items[0].actor == "bob"


def test_an_unauditable_shadow_change_is_refused(service: PolicyService) -> None:
    service.upload_files(files(), "officer", revision="v1")
    with service.store._db.engine.begin() as conn:
        conn.execute(text("DROP TABLE change_audit"))
    with pytest.raises(StoreError):
        service.set_shadow("v1", "officer")
    assert service.shadow().revision is None
