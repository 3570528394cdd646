"""The store-backed core of the API on PostgreSQL (a schema of its own): idempotent ingest,
the status machine, export, quarantine seen by the trust source, the change audit."""

from __future__ import annotations

import json

import pytest

from gateway.store import StoreTrustSource
from tests.gateway.control.conftest import Stack
from tests.gateway.control.test_access import assert_problem
from tests.gateway.control.test_alerts import alert

pytestmark = pytest.mark.service


def test_ingest_triage_and_export(pg_stack: Stack) -> None:
    assert pg_stack.store.backend == "postgresql"
    admin, analyst = pg_stack.client("admin"), pg_stack.client("analyst")
    doc = alert(1, rule="telnet_bruteforce", event_id="pg-1")
    assert admin.post("/api/alerts", json=doc).status_code == 201
    assert admin.post("/api/alerts", json=doc).status_code == 200
    batch = "\n".join(json.dumps(alert(n, event_id=f"pg-b{n}")) for n in range(4))
    assert admin.post("/api/alerts/batch", content=batch).json() == {"created": 4,
                                                                    "duplicates": 0}
    assert_problem(analyst.post("/api/alerts/pg-1/status", json={"status": "resolved"}), 409)
    assert analyst.post("/api/alerts/pg-1/status", json={"status": "triaged"}).status_code == 200
    assert analyst.post("/api/alerts/pg-1/status",
                        json={"status": "resolved"}).json()["status"] == "resolved"
    found = analyst.get("/api/alerts", params={"q": "TELNET"}).json()["items"]
    assert [a["id"] for a in found] == ["pg-1"]
    lines = analyst.get("/api/alerts/export").text.splitlines()
    assert len(lines) == 5
    rows = analyst.get("/api/alerts/export", params={"format": "csv"}).text.splitlines()
    assert len(rows) == 6  # header + 5
    changes = pg_stack.client("officer").get("/api/audit/changes",
                                             params={"target": "alert:pg-1"}).json()
    assert [c["action"] for c in changes["items"]][:2] == ["alert.status", "alert.status"]


def test_quarantine_reaches_the_trust_source(pg_stack: Stack) -> None:
    officer = pg_stack.client("officer")
    made = officer.post("/api/devices/cam-13/quarantine", json={"reason": "beaconing"})
    assert made.status_code == 201
    source = StoreTrustSource(pg_stack.store.quarantines)
    assert source.refresh()
    assert source.trust_of(device_id="cam-13") == "quarantined"
    assert source.trust_of(ip="10.0.0.13") == "quarantined"
    assert officer.post("/api/devices/cam-13/release").status_code == 200
    assert source.refresh()
    assert source.trust_of(device_id="cam-13") == "unknown"


def test_health_and_no_ca_is_a_clear_503(pg_stack: Stack) -> None:
    assert pg_stack.client(None).get("/healthz").json() == {"status": "ok"}
    assert_problem(pg_stack.client(None).get("/crl.pem"), 503, "ca-not-configured")
