"""Alerts over real HTTP: idempotent ingest (token and mTLS), list/filter/search/paginate,
triage with its status machine, comments, groups, export, retention, and the audit trail
of every change."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from gateway.store import AlertStatus, NotFound, Store
from tests.gateway.control.conftest import Stack
from tests.gateway.control.test_access import assert_problem


def alert(n: int, *, rule: str = "port_scan_horizontal", device: str | None = "cam-13",
          severity: int = 50, message: str | None = None, when: str | None = None,
          event_id: str | None = None) -> dict[str, object]:
    doc: dict[str, object] = {
        "@timestamp": when or f"2026-11-25T09:{n // 60 % 60:02d}:{n % 60:02d}.000Z",
        "event": {"kind": "alert", "category": ["network"], "severity": severity},
        "rule": {"id": rule, "name": rule.replace("_", " "), "ruleset": "zonegate-monitor"},
        "source": {"ip": "10.0.0.13"},
        "message": message if message is not None else f"alert {rule} {n}",
    }
    if device is not None:
        doc["device"] = {"id": device}
    if event_id is not None:
        doc["event"]["id"] = event_id  # type: ignore[index]
    return doc


def ingest(client: httpx.Client, doc: dict[str, object]) -> str:
    response = client.post("/api/alerts", json=doc)
    assert response.status_code in (200, 201), response.text
    return str(response.json()["id"])


def test_single_ingest_is_idempotent_by_id(stack: Stack) -> None:
    admin = stack.client("admin")
    doc = alert(1, rule="telnet_bruteforce", event_id="evt-idem-1")
    first = admin.post("/api/alerts", json=doc)
    again = admin.post("/api/alerts", json=doc)
    assert (first.status_code, first.json()) == (201, {"id": "evt-idem-1", "created": True})
    assert (again.status_code, again.json()) == (200, {"id": "evt-idem-1", "created": False})
    # without event.id the id is the document's hash: the same line twice is one alert
    doc = alert(2, rule="telnet_bruteforce")
    assert admin.post("/api/alerts", json=doc).status_code == 201
    assert admin.post("/api/alerts", json=doc).status_code == 200
    assert stack.store.alerts.get("evt-idem-1").rule_id == "telnet_bruteforce"


def test_batch_ingest_counts_duplicates_and_is_atomic(stack: Stack) -> None:
    admin = stack.client("admin")
    docs = [alert(n, rule="arp_spoof", event_id=f"evt-batch-{n}") for n in range(5)]
    body = "\n".join(json.dumps(d) for d in docs) + "\n"
    response = admin.post("/api/alerts/batch", content=body,
                          headers={"Content-Type": "application/x-ndjson"})
    assert response.json() == {"created": 5, "duplicates": 0}
    more = body + json.dumps(alert(9, rule="arp_spoof", event_id="evt-batch-9")) + "\n"
    assert admin.post("/api/alerts/batch", content=more).json() == {"created": 1,
                                                                    "duplicates": 5}
    bad = json.dumps(alert(10, rule="arp_spoof", event_id="evt-batch-10")) + "\n{not json\n"
    problem = assert_problem(admin.post("/api/alerts/batch", content=bad), 422, "invalid-json")
    assert "line 2" in problem["detail"]
    with pytest.raises(NotFound):
        stack.store.alerts.get("evt-batch-10")
    assert_problem(admin.post("/api/alerts/batch", content=b"\n\n"), 422, "empty-batch")


def test_monitor_ingests_with_its_client_certificate(stack: Stack) -> None:
    assert stack.pki is not None
    monitor = stack.client(None, cert=stack.pki.leaf("monitor"))
    response = monitor.post("/api/alerts", json=alert(3, rule="dns_tunnel",
                                                      event_id="evt-mtls-1"))
    assert response.status_code == 201, response.text
    changes = stack.client("officer").get("/api/audit/changes",
                                          params={"action": "alert.ingest"}).json()["items"]
    assert any(c["actor"].startswith("spiffe://city.example/zone/edge/svc/monitor")
               for c in changes)


@pytest.mark.parametrize(("body", "status", "code"), [
    (b"{not json", 422, "invalid-json"),
    (b"[1, 2]", 422, "invalid-json"),
    (b'{"a": NaN}', 422, "invalid-json"),
    (json.dumps({"message": "no rule"}).encode(), 422, "invalid-record"),
    (b"x" * (64 * 1024 + 1), 413, "body-too-large"),
])
def test_bad_alerts_are_refused_with_problems(stack: Stack, body: bytes, status: int,
                                              code: str) -> None:
    response = stack.client("admin").post("/api/alerts", content=body,
                                          headers={"Content-Type": "application/json"})
    assert_problem(response, status, code)


def test_analysts_cannot_ingest(stack: Stack) -> None:
    assert_problem(stack.client("analyst").post("/api/alerts", json=alert(4)), 403)


def test_list_filter_search_and_paginate(stack: Stack) -> None:
    admin, analyst = stack.client("admin"), stack.client("analyst")
    for n in range(12):
        ingest(admin, alert(100 + n, rule="modbus_write", device="plc-2",
                            severity=20 + n * 5, message=f"coil write {n}",
                            event_id=f"evt-page-{n}"))
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"rule_id": "modbus_write", "limit": 5}
        if cursor:
            params["cursor"] = cursor
        page = analyst.get("/api/alerts", params=params).json()
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 12
    assert seen == sorted(seen, key=lambda i: -int(i.rsplit("-", 1)[1]))  # newest first
    strong = analyst.get("/api/alerts", params={"rule_id": "modbus_write",
                                                "min_severity": 60}).json()["items"]
    assert {a["severity"] for a in strong} == {60, 65, 70, 75}
    found = analyst.get("/api/alerts", params={"q": "COIL WRITE 7"}).json()["items"]
    assert [a["id"] for a in found] == ["evt-page-7"]
    since = analyst.get("/api/alerts", params={"rule_id": "modbus_write",
                                               "since": "2026-11-25T09:01:50Z"}).json()
    assert {a["id"] for a in since["items"]} == {"evt-page-10", "evt-page-11"}
    detail = analyst.get("/api/alerts/evt-page-3").json()
    assert detail["document"]["device"] == {"id": "plc-2"} and detail["status"] == "new"


@pytest.mark.parametrize(("params", "code"), [
    ({"limit": 0}, "validation-error"),
    ({"limit": 501}, "validation-error"),
    ({"status": "open"}, "validation-error"),
    ({"since": "yesterday"}, "validation-error"),
    ({"since": "2026-11-25T09:00:00"}, "validation-error"),  # naive: refused
    ({"cursor": "forged"}, "invalid-cursor"),
])
def test_bad_queries_are_problems(stack: Stack, params: dict[str, Any], code: str) -> None:
    response = stack.client("analyst").get("/api/alerts", params=params)
    status = 400 if code == "invalid-cursor" else 422
    assert_problem(response, status, code)


def test_status_machine_assign_and_comments(stack: Stack) -> None:
    admin, analyst = stack.client("admin"), stack.client("analyst")
    alert_id = ingest(admin, alert(200, rule="telnet_bruteforce", event_id="evt-triage-1"))

    def move(to: str) -> httpx.Response:
        return analyst.post(f"/api/alerts/{alert_id}/status", json={"status": to})

    assert_problem(move("resolved"), 409, "conflict")  # new -> resolved skips triage
    assert move("triaged").json()["status"] == "triaged"
    assert_problem(move("new"), 409, "conflict")
    assert move("false-positive").json()["status"] == "false-positive"
    assert_problem(move("resolved"), 409, "conflict")
    assert move("triaged").json()["status"] == "triaged"  # reopened
    assert move("resolved").json()["status"] == "resolved"
    assert_problem(move("closed"), 422, "validation-error")
    assert_problem(analyst.post("/api/alerts/nope/status", json={"status": "triaged"}),
                   404, "not-found")

    assigned = analyst.post(f"/api/alerts/{alert_id}/assign", json={"assignee": "analyst"})
    assert assigned.json()["assignee"] == "analyst"
    mine = analyst.get("/api/alerts", params={"assignee": "analyst"}).json()["items"]
    assert [a["id"] for a in mine] == [alert_id]
    assert analyst.post(f"/api/alerts/{alert_id}/assign",
                        json={"assignee": None}).json()["assignee"] is None
    assert_problem(analyst.post(f"/api/alerts/{alert_id}/assign", json={}), 422)

    made = analyst.post(f"/api/alerts/{alert_id}/comments", json={"body": "scanner, benign"})
    assert made.status_code == 201 and made.json()["author"] == "analyst"
    thread = analyst.get(f"/api/alerts/{alert_id}/comments").json()
    assert [c["body"] for c in thread] == ["scanner, benign"]
    assert_problem(analyst.post(f"/api/alerts/{alert_id}/comments", json={"body": ""}), 422)
    assert_problem(analyst.post(f"/api/alerts/{alert_id}/comments",
                                json={"body": "x", "extra": 1}), 422, "validation-error")

    changes = stack.client("officer").get(
        "/api/audit/changes", params={"target": f"alert:{alert_id}"}).json()["items"]
    actions = [(c["actor"], c["action"]) for c in reversed(changes)]
    assert actions.count(("analyst", "alert.status")) == 4
    assert ("analyst", "alert.assign") in actions and ("analyst", "alert.comment") in actions
    assert all(c["at"] for c in changes)


def test_groups_by_device_and_rule(stack: Stack) -> None:
    admin, analyst = stack.client("admin"), stack.client("analyst")
    for n in range(3):
        ingest(admin, alert(300 + n, rule="dhcp_starvation", device="cam-14",
                            severity=30 + n, event_id=f"evt-group-{n}"))
    groups = analyst.get("/api/alerts/groups", params={"rule_id": "dhcp_starvation"}).json()
    assert len(groups) == 1
    group = groups[0]
    assert (group["group_key"], group["count"], group["open_count"],
            group["max_severity"]) == ("cam-14", 3, 3, 32)


def test_export_ndjson_and_csv_stream_every_match(stack: Stack) -> None:
    admin, analyst = stack.client("admin"), stack.client("analyst")
    hostile = "=HYPERLINK(\"http://evil\")"
    for n in range(3):
        ingest(admin, alert(400 + n, rule="dns_exfil", message=hostile if n == 0 else None,
                            event_id=f"evt-export-{n}"))
    params = {"rule_id": "dns_exfil"}
    nd = analyst.get("/api/alerts/export", params=params)
    assert nd.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in nd.text.splitlines()]
    assert {line["id"] for line in lines} == {"evt-export-0", "evt-export-1", "evt-export-2"}
    assert all(line["document"]["rule"]["id"] == "dns_exfil" for line in lines)

    as_csv = analyst.get("/api/alerts/export", params={**params, "format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert {r["id"] for r in rows} == {"evt-export-0", "evt-export-1", "evt-export-2"}
    injected = next(r for r in rows if r["id"] == "evt-export-0")
    assert injected["message"] == "'" + hostile  # not a live formula in a spreadsheet
    assert_problem(analyst.get("/api/alerts/export", params={"format": "xml"}), 422)
    assert_problem(analyst.get("/api/alerts/export", params={"status": "nope"}), 422)


def test_retention_deletes_only_old_closed_alerts_and_is_audited(stack: Stack) -> None:
    # a second handle on the same database whose clock is 30 days back: the alerts it
    # triages were closed a month ago
    past = datetime.now(UTC) - timedelta(days=30)
    with Store.open(stack.store.url, clock=lambda: past) as old_store:
        closing: list[AlertStatus] = ["resolved", "false-positive", "new", "triaged"]
        for n, status in enumerate(closing):
            doc = alert(500 + n, rule="rogue_dhcp", event_id=f"evt-old-{n}",
                        when="2026-10-01T00:00:00Z")
            old_store.alerts.ingest(doc, by="monitor")
            if status != "new":
                old_store.alerts.set_status(f"evt-old-{n}", "triaged", "analyst")
            if status in ("resolved", "false-positive"):
                old_store.alerts.set_status(f"evt-old-{n}", status, "analyst")
    admin, officer = stack.client("admin"), stack.client("officer")
    # closed today, even if old by its timestamp: kept
    recent = ingest(admin, alert(510, rule="rogue_dhcp", event_id="evt-recent",
                                 when="2026-10-01T00:00:00Z"))
    officer.post(f"/api/alerts/{recent}/status", json={"status": "triaged"})
    officer.post(f"/api/alerts/{recent}/status", json={"status": "resolved"})

    dry = officer.post("/api/alerts/retention", json={"older_than_days": 7, "dry_run": True})
    assert dry.json()["deleted"] == 2 and dry.json()["dry_run"] is True
    assert stack.store.alerts.get("evt-old-0").status == "resolved"
    done = officer.post("/api/alerts/retention", json={"older_than_days": 7})
    assert done.status_code == 200 and done.json()["deleted"] == 2
    left = {a["id"] for a in officer.get("/api/alerts", params={"rule_id": "rogue_dhcp"}
                                         ).json()["items"]}
    assert left == {"evt-old-2", "evt-old-3", "evt-recent"}
    audit = officer.get("/api/audit/changes", params={"action": "alert.retention"}).json()
    assert audit["items"][0]["actor"] == "officer"
    assert audit["items"][0]["details"]["deleted"] == 2
    assert_problem(officer.post("/api/alerts/retention", json={"older_than_days": 0}), 422)
    assert_problem(stack.client("analyst").post("/api/alerts/retention",
                                                json={"older_than_days": 7}), 403)
