"""Every policy decision reaches the store's decision index, off the request path.

In process: the real gateway on loopback (conftest's harness) with a `DecisionIndexWriter`
over a real SQLite store, read back through the store and through a real control plane's
`/api/decisions`; a queue that is full and a store that is down cost index rows (counted
in /metrics, logged) and never a request. Live shadow mode end to end: a candidate set on
the control plane is compared with what the gateway decided, and enforces nothing. As a
real process: `zonegate serve --role ingress` indexes by default with `device_trust:
store`, flushes on SIGTERM, and writes nothing with `decision_index: false`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.config import parse_config
from gateway.idp import DevIdP
from gateway.ingress.decision_index import DecisionIndexWriter
from gateway.metrics import GatewayMetrics
from gateway.pdp.source import load_source
from gateway.store import DecisionRecord, Store
from tests.gateway.control.conftest import Stack, running_stack
from tests.gateway.control.test_policies_service import files
from tests.gateway.ingress.conftest import Harness, Upstream
from tests.gateway.ingress.test_serve import _free_port
from tests.gateway.ingress.test_store_trust import POLICIES, _config, _start, _stop

Factory = Callable[..., Any]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'zonegate.db'}") as opened:
        opened.migrate()
        yield opened


async def _until(check: Callable[[], Any], what: str, limit: float = 30) -> Any:
    """Poll `check` (run in a thread) until it returns something truthy."""
    last = None
    try:
        async with asyncio.timeout(limit):
            while True:  # polls the store or an API: there is no event to wait on
                last = await asyncio.to_thread(check)
                if last:
                    return last
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"never: {what} (last: {last!r})") from None


async def _metric(gw: Harness, name: str, **labels: str) -> float:
    async with gw.client.get(f"{gw.url}/metrics") as resp:
        text = await resp.text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v
                                           for k, v in labels.items()):
                return float(sample.value)
    return 0.0


async def _get(gw: Harness, path: str, headers: dict[str, str] | None = None) -> int:
    async with gw.client.get(f"{gw.url}{path}", headers=headers or {}) as resp:
        await resp.read()
        return resp.status


@contextlib.asynccontextmanager
async def _control_plane(tmp: Path, store: Store) -> AsyncIterator[Stack]:
    """A real control plane on `store` (its own thread and loop), entered off this loop."""
    await asyncio.to_thread(tmp.mkdir)
    manager = running_stack(tmp, store, backend="sqlite", with_tls=False, with_ca=False)
    stack = await asyncio.to_thread(manager.__enter__)
    try:
        yield stack
    finally:
        await asyncio.to_thread(manager.__exit__, None, None, None)


async def test_decisions_reach_the_index_and_the_api(harness_factory: Factory, store: Store,
                                                     tmp_path: Path) -> None:
    metrics = GatewayMetrics()
    index = DecisionIndexWriter(store.decisions, metrics)
    index.start()
    gw: Harness = await harness_factory(decision_index=index, metrics=metrics)
    try:
        assert await _get(gw, "/zones/health/records/7?access_token=s3cret&x=1",
                          gw.token("doctor")) == 200
        assert await _get(gw, "/zones/health/records/8", gw.token("engineer")) == 403
        assert await _get(gw, "/zones/nowhere/1") == 404  # no zone: no policy decision
        events = await gw.settled_events(3)
        found = await _until(lambda: len(store.decisions.search().items) == 2 and
                             store.decisions.search().items, "two decisions indexed")
    finally:
        await asyncio.to_thread(index.close)
    by_id = {event["decision_id"]: event for event in events if event["decision_id"]}
    assert set(by_id) == {d.decision_id for d in found}
    allowed, denied = sorted(found, key=lambda d: not d.allow)
    assert (allowed.subject, allowed.zone, allowed.method, allowed.path, allowed.level,
            allowed.revision, allowed.reasons) == (
        by_id[allowed.decision_id]["subject"], "health", "GET", "/zones/health/records/7",
        "L4", "scripted-1", ())
    assert (denied.allow, denied.reasons, denied.path) == (
        False, ("zone-not-permitted",), "/zones/health/records/8")
    # the input the policy saw, masked as the decision log masks it
    decided: Any = gw.policy.seen[0]
    stored: Any = allowed.input
    assert denied.input is not None and stored["request"]["id"] == decided["request"]["id"]
    assert stored["subject"] == decided["subject"] and "doctor" in stored["subject"]["roles"]
    assert stored["resource"] == decided["resource"] == {
        "zone": "health", "level": "L4", "path": "/records/7"}
    assert decided["request"]["query"]["access_token"] == ["s3cret"]
    assert stored["request"]["query"] == {"x": ["1"]} and "s3cret" not in json.dumps(stored)
    assert await _metric(gw, "zonegate_decision_index_written_total") == 2
    assert index.dropped == 0
    # the same rows through the control plane's decision search
    async with _control_plane(tmp_path / "control", store) as stack:
        analyst = stack.client("analyst")
        page = (await asyncio.to_thread(analyst.get, "/api/decisions",
                                        params={"zone": "health", "allow": "false"})).json()
        assert [d["decision_id"] for d in page["items"]] == [denied.decision_id]
        assert page["items"][0]["revision"] == "scripted-1"
        one = (await asyncio.to_thread(analyst.get,
                                       f"/api/decisions/{allowed.decision_id}")).json()
        assert one["path"] == "/zones/health/records/7" and one["allow"] is True


async def test_a_full_queue_drops_counts_and_serves(harness_factory: Factory, store: Store,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    metrics = GatewayMetrics()
    index = DecisionIndexWriter(store.decisions, metrics, queue_size=1)  # not started yet
    gw: Harness = await harness_factory(decision_index=index, metrics=metrics)
    with caplog.at_level(logging.ERROR, logger="zonegate.ingress.decision_index"):
        statuses = [await _get(gw, f"/zones/open/records/{n}", gw.token()) for n in range(3)]
        assert statuses == [200, 200, 200]
        assert await _metric(gw, "zonegate_decision_index_dropped_total",
                             reason="queue-full") == 2
        await asyncio.to_thread(index.close)  # shutdown writes what was queued
    assert [d.path for d in store.decisions.search().items] == ["/zones/open/records/0"]
    assert await _metric(gw, "zonegate_decision_index_written_total") == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and "queue-full" in errors[0]
    assert "2 in total" in errors[-1]  # the throttled drop was reported too, at close


async def test_a_store_that_is_down_drops_counts_and_serves(
        harness_factory: Factory, caplog: pytest.LogCaptureFixture) -> None:
    metrics = GatewayMetrics()
    down = Store.open(f"postgresql://nobody@127.0.0.1:{_free_port()}/zonegate",
                      connect_timeout_s=2)  # nothing listens there
    index = DecisionIndexWriter(down.decisions, metrics)
    index.start()
    gw: Harness = await harness_factory(decision_index=index, metrics=metrics)
    try:
        with caplog.at_level(logging.ERROR, logger="zonegate.ingress.decision_index"):
            assert await _get(gw, "/zones/open/records/1", gw.token()) == 200
            assert await _get(gw, "/zones/health/records/1", gw.token("engineer")) == 403

            async def dropped() -> float:
                return await _metric(gw, "zonegate_decision_index_dropped_total",
                                     reason="store-unavailable")

            async with asyncio.timeout(30):
                while True:  # one batch or two, depending on timing
                    if await dropped() >= 2:
                        break
                    await asyncio.sleep(0.05)
            assert await _get(gw, "/zones/open/records/2", gw.token()) == 200
    finally:
        await asyncio.to_thread(index.close)
        down.close()
    assert index.written == 0 and index.dropped == 3
    assert any("store-unavailable" in r.getMessage() and "unavailable" in r.getMessage()
               for r in caplog.records if r.levelno == logging.ERROR)


# -- live shadow mode ------------------------------------------------------------------


async def test_shadow_reports_disagreements_with_what_the_gateway_enforced(
        harness_factory: Factory, store: Store, tmp_path: Path) -> None:
    metrics = GatewayMetrics()
    index = DecisionIndexWriter(store.decisions, metrics)
    index.start()
    gw: Harness = await harness_factory(decision_index=index, metrics=metrics)
    try:
        async with _control_plane(tmp_path / "control", store) as stack:
            officer = stack.client("officer")

            def call(method: str, url: str, **kw: Any) -> httpx.Response:
                return officer.request(method, url, **kw)

            for revision, zones, activate in (("v1", ("open",), True),
                                              ("v2", ("open", "transport"), False)):
                response = await asyncio.to_thread(call, "POST", "/api/policies/files", json={
                    "files": files(zones), "revision": revision, "activate": activate})
                assert response.status_code == 201, response.text
            # decided before the shadow was set: never compared
            assert await _get(gw, "/zones/health/records/0", gw.token("doctor")) == 200
            await gw.settled_events(1)
            put = await asyncio.to_thread(call, "PUT", "/api/policies/shadow",
                                          json={"revision": "v2"})
            assert put.status_code == 200 and put.json()["compared"] == 0
            statuses = [
                await _get(gw, "/zones/open/records/1", gw.token("doctor")),  # both allow
                # the gateway allows, v2 would deny: served all the same
                await _get(gw, "/zones/health/records/2", gw.token("doctor")),
                await _get(gw, "/zones/transport/records/3", gw.token("doctor")),  # agree
                await _get(gw, "/zones/transport/records/4"),  # deny, other reasons
            ]
            assert statuses == [200, 200, 200, 401]
            events = await gw.settled_events(5)
            ids = {event["path"]: event["decision_id"] for event in events}

            def shadow_state() -> dict[str, Any] | None:
                state: dict[str, Any] = call("GET", "/api/policies/shadow").json()
                return state if state["compared"] >= 4 else None

            state = await _until(shadow_state, "the shadow compared four decisions")
            assert state["compared"] == 4 and state["active_revision"] == "v1"
            seen = {(d["decision_id"], d["kind"], d["input_source"])
                    for d in state["disagreements"]}
            assert seen == {(ids["/zones/health/records/2"], "allow->deny", "live"),
                            (ids["/zones/transport/records/4"], "reasons", "live")}
            # nothing the candidate decides is enforced, and the policy in force is v1
            assert await _get(gw, "/zones/health/records/5", gw.token("doctor")) == 200
            active = await asyncio.to_thread(call, "GET", "/api/policies/active")
            assert active.json()["revision"] == "v1"
            # the report re-decides the indexed inputs, the gateway's own
            report = (await asyncio.to_thread(call, "GET", "/api/policies/shadow/report",
                                              params={"limit": 10})).json()
            assert report["rebuilt"] == 0 and report["from_log"] == 0
            # setting and clearing are in the change audit, with who
            assert (await asyncio.to_thread(call, "DELETE", "/api/policies/shadow")
                    ).json()["revision"] is None
            audit = (await asyncio.to_thread(call, "GET", "/api/audit/changes",
                                             params={"target": "policy:v2"})).json()
            assert [(a["action"], a["actor"]) for a in audit["items"]][:2] == [
                ("policy.shadow-clear", "officer"), ("policy.shadow-set", "officer")]
            assert audit["items"][0]["details"]["disagreements"] == 2
    finally:
        await asyncio.to_thread(index.close)


# -- as a real process -------------------------------------------------------------------


@pytest.mark.parametrize("index_setting", ["", "false"])
async def test_serve_indexes_decisions_and_flushes_on_sigterm(
        tmp_path: Path, store: Store, idp: DevIdP, upstream: Upstream,
        index_setting: str) -> None:
    port = _free_port()
    config = _config(tmp_path / "g.yaml", port, store.url, idp, upstream)
    if index_setting:
        text = config.read_text().replace("trust_refresh_seconds: 0.2}",
                                          f"trust_refresh_seconds: 0.2, "
                                          f"decision_index: {index_setting}}}")
        config.write_text(text)
    assert parse_config(config.read_text()).ingress.indexes_decisions is not bool(
        index_setting)
    served = await _start(config, tmp_path / "audit.jsonl")
    try:
        token = {"Authorization": f"Bearer {idp.mint(user='doctor')}"}
        async with aiohttp.ClientSession() as client:
            url = f"http://127.0.0.1:{port}/zones/open/records/1"
            async with client.get(url, headers=token) as resp:
                assert resp.status == 200, await resp.text()
    finally:
        await _stop(served)  # SIGTERM, straight after the answer: shutdown must flush
    assert served.proc.returncode == 0
    indexed: tuple[DecisionRecord, ...] = store.decisions.search().items
    if index_setting == "false":
        assert indexed == ()
        return
    assert len(indexed) == 1  # written by the time the process exited
    decision = indexed[0]
    assert (decision.allow, decision.zone, decision.subject) == (True, "open", "doctor")
    assert decision.input is not None and decision.input["resource"] == {
        "zone": "open", "level": "L1", "path": "/records/1"}
    assert decision.revision == load_source(POLICIES).revision
