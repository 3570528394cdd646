"""One contract suite that both adapters pass: embedded (regorus) and opa (over HTTP).

The `opa` engine runs against the stand-in OPA server (see opa_standin.py), which stands
in for OPA because there is no OPA binary here; test_opa_adapter.py also runs it against a
real OPA when OPA_URL is set.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from gateway.pdp import Decision, EmbeddedEngine, OPAEngine, PDPUnavailable, PolicyEngine
from tests.gateway.pdp.conftest import POLICIES, VECTORS, make_input
from tests.gateway.pdp.opa_standin import OPAStandIn

ENGINES = ["embedded", "opa"]


@pytest.fixture(params=ENGINES)
async def make_engine(
    request: pytest.FixtureRequest, opa_standin: Callable[..., object]
) -> AsyncIterator[Callable[..., object]]:
    made: list[PolicyEngine] = []

    async def make(bundle: Path = POLICIES, decision: str = "zonegate/authz/decision"
                   ) -> PolicyEngine:
        engine: PolicyEngine
        if request.param == "embedded":
            engine = EmbeddedEngine.from_path(bundle, decision)
        else:
            server = await opa_standin(bundle=bundle)  # type: ignore[operator]
            assert isinstance(server, OPAStandIn)
            engine = OPAEngine(server.url, decision, timeout_seconds=5)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        await engine.close()


DECISIONS = [
    ("doctor reads", {}, True, ()),
    ("anonymous", {"subject": {"authenticated": False}}, False, ("unauthenticated",)),
    ("nurse writes", {"request": {"method": "PUT"}, "subject": {"roles": ["nurse"]}},
     False, ("method-not-permitted",)),
    ("quarantined", {"device": {"trust": "quarantined"}}, False, ("device-quarantined",)),
    ("prefix trick", {"request": {"path": "/zones/healthx/records/7"}}, False,
     ("zone-not-permitted",)),
    ("dot-dot", {"request": {"path": "/zones/health/../transport/x"},
                 "resource": {"path": "/../transport/x"}}, False, ("path-not-canonical",)),
    ("high risk", {"context": {"risk": 99}}, False, ("step-up-required",)),
    ("low clearance", {"subject": {"clearance": "L2"}}, False, ("clearance-insufficient",)),
]


@pytest.mark.parametrize(("note", "patch", "allow", "reasons"), DECISIONS,
                         ids=[d[0] for d in DECISIONS])
async def test_decisions(make_engine: Callable[..., object], note: str, patch: dict[str, object],
                         allow: bool, reasons: tuple[str, ...]) -> None:
    engine = await make_engine()  # type: ignore[operator]
    decision = await engine.evaluate(make_input(**patch))
    assert isinstance(decision, Decision)
    assert (decision.allow, decision.reasons) == (allow, reasons)


async def test_step_up_obligation(make_engine: Callable[..., object]) -> None:
    engine = await make_engine()  # type: ignore[operator]
    decision = await engine.evaluate(make_input(context={"risk": 99}))
    assert decision.obligations.step_up is True


async def test_break_glass_obligations(make_engine: Callable[..., object]) -> None:
    engine = await make_engine()  # type: ignore[operator]
    decision = await engine.evaluate(make_input(
        subject={"roles": ["break-glass"], "clearance": "L1"},
        request={"headers": {"x-break-glass-reason": "cardiac arrest, bed 4"}}))
    assert decision.allow is True
    assert decision.obligations.audit is True
    assert decision.obligations.max_level == "L4"
    assert decision.obligations.headers == {"x-zonegate-break-glass": "cardiac arrest, bed 4"}


async def test_revision_is_reported(make_engine: Callable[..., object]) -> None:
    engine = await make_engine()  # type: ignore[operator]
    await engine.evaluate(make_input())
    assert engine.revision not in ("", "opa:unknown")


async def test_undefined_decision_is_unavailable(make_engine: Callable[..., object]) -> None:
    engine = await make_engine(VECTORS / "policies" / "sometimes_undefined")  # type: ignore[operator]
    assert (await engine.evaluate({"ok": True})).allow is True
    with pytest.raises(PDPUnavailable):
        await engine.evaluate({"undefined": True})


async def test_evaluation_error_is_unavailable(make_engine: Callable[..., object]) -> None:
    engine = await make_engine(VECTORS / "policies" / "runtime_error")  # type: ignore[operator]
    with pytest.raises(PDPUnavailable):
        await engine.evaluate({"n": "not a number"})


async def test_malformed_decision_denies(make_engine: Callable[..., object]) -> None:
    engine = await make_engine(VECTORS / "policies" / "malformed_decision")  # type: ignore[operator]
    decision = await engine.evaluate({})
    assert (decision.allow, decision.reasons) == (False, ("policy-malformed",))
