"""Alerts: idempotent ingest, rejection of malformed alerts, triage, pagination, grouping."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from gateway.store import (
    AlertFilter,
    Conflict,
    InvalidCursor,
    InvalidRecord,
    NotFound,
    Store,
    StoreError,
)
from gateway.store._alert_doc import parse_line
from tests.gateway.store.conftest import VECTORS, Target, make_alert, valid_alerts

MALFORMED = json.loads((VECTORS / "alerts_malformed.json").read_text(encoding="utf-8"))


def test_ingest_is_idempotent_by_alert_id(store: Store) -> None:
    alerts = valid_alerts()
    first = [store.alerts.ingest(a) for a in alerts]
    again = [store.alerts.ingest(a) for a in alerts]
    assert [created for _, created in first] == [True] * len(alerts)
    assert [created for _, created in again] == [False] * len(alerts)
    assert [i for i, _ in first] == [i for i, _ in again]
    assert store.alerts.count() == len(alerts)


def test_event_id_is_the_alert_id_when_given(store: Store) -> None:
    alert = next(a for a in valid_alerts() if "id" in a["event"])  # type: ignore[operator]
    assert store.alerts.ingest(alert) == ("mon-0001", True)
    # the same event id with other content is the same alert: the first one stays
    changed = {**alert, "message": "rewritten"}
    assert store.alerts.ingest(changed) == ("mon-0001", False)
    assert store.alerts.get("mon-0001").message == "long TXT queries to x.example"


def test_stored_fields_and_document(store: Store) -> None:
    alert = valid_alerts()[0]
    alert_id, _ = store.alerts.ingest(alert)
    rec = store.alerts.get(alert_id)
    assert rec.timestamp == datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    assert (rec.rule_id, rec.severity, rec.status) == ("port_scan_horizontal", 73, "new")
    assert (rec.source_ip, rec.source_mac) == ("10.0.0.13", "02:00:00:00:00:13")
    assert (rec.destination_ip, rec.destination_port) == ("10.0.0.1", 23)
    assert rec.group_key == "cam-13"
    assert rec.document == alert


def test_time_zones_are_normalised_to_utc(store: Store) -> None:
    arp = next(a for a in valid_alerts() if a["rule"]["id"] == "arp_spoof")  # type: ignore[index]
    alert_id, _ = store.alerts.ingest(arp)
    assert store.alerts.get(alert_id).timestamp == datetime(2026, 11, 25, 0, 1, tzinfo=UTC)


@pytest.mark.parametrize("case", MALFORMED, ids=[c["note"] for c in MALFORMED])
def test_malformed_alert_is_rejected_with_a_clear_error(store: Store,
                                                        case: dict[str, object]) -> None:
    with pytest.raises(InvalidRecord) as caught:
        store.alerts.ingest(case["alert"])  # type: ignore[arg-type]
    assert str(case["error"]) in str(caught.value)
    assert isinstance(caught.value, StoreError)
    assert store.alerts.count() == 0


@pytest.mark.parametrize(("line", "error"), [
    ("{not json", "not JSON"),
    ("[1, 2]", "an alert is a JSON object"),
    ('{"a": NaN}', "NaN is not valid JSON"),
    ("[" * 100_000 + "]" * 100_000, "not JSON"),
    ("", "not JSON"),
    (b"{\"a\": \"\xff\"}", "not UTF-8"),
])
def test_malformed_ndjson_line(line: str | bytes, error: str) -> None:
    with pytest.raises(InvalidRecord, match=error):
        parse_line(line, "alerts.ndjson:3")


def test_oversized_alert_is_rejected(store: Store) -> None:
    alert = make_alert(1, message="x" * 70_000)
    with pytest.raises(InvalidRecord, match="bytes, more than"):
        store.alerts.ingest(alert)


def test_batch_with_one_bad_alert_writes_nothing(store: Store) -> None:
    batch = [make_alert(1), make_alert(2), MALFORMED[3]["alert"], make_alert(4)]
    with pytest.raises(InvalidRecord, match=r"alert #3: alert: event\.severity"):
        store.alerts.ingest_many(batch)
    assert store.alerts.count() == 0
    assert store.alerts.ingest_many([make_alert(1), make_alert(2), make_alert(1)]) == (2, 1)


def test_pagination_is_stable_while_alerts_arrive(store: Store) -> None:
    # 30 alerts over 10 distinct seconds: ties on timestamp are broken by id
    originals = {store.alerts.ingest(make_alert(n, second=100 + n % 10))[0] for n in range(30)}
    seen: list[str] = []
    cursor: str | None = None
    arrivals = 0
    while True:
        page = store.alerts.list(limit=7, cursor=cursor)
        seen.extend(a.id for a in page.items)
        # newer alerts, and one at an already-paged timestamp, arrive between pages
        store.alerts.ingest(make_alert(1000 + arrivals, second=3000 + arrivals))
        store.alerts.ingest(make_alert(2000 + arrivals, second=105))
        arrivals += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen))
    assert originals <= set(seen)
    times = [store.alerts.get(i).timestamp for i in seen]
    assert times == sorted(times, reverse=True)


def test_pages_cover_everything_exactly_once(store: Store) -> None:
    store.alerts.ingest_many([make_alert(n, second=n // 4) for n in range(23)])
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = store.alerts.list(limit=5, cursor=cursor)
        pages += 1
        seen.extend(a.id for a in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 5
    assert len(seen) == len(set(seen)) == 23


@pytest.mark.parametrize("cursor", ["garbage!!", "WyJkZXZpY2VzIiwiYSJd", "bnVsbA", ""])
def test_foreign_or_malformed_cursor_is_refused(store: Store, cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        store.alerts.list(cursor=cursor)


@pytest.mark.parametrize("limit", [0, -1, 1001, True])
def test_limit_is_bounded(store: Store, limit: int) -> None:
    with pytest.raises(InvalidRecord, match="limit"):
        store.alerts.list(limit=limit)


def test_filters_and_search(store: Store) -> None:
    store.alerts.ingest_many([
        make_alert(1, rule="ssh_bruteforce", device="gw-1", severity=90, message="100% CPU axb"),
        make_alert(2, rule="ssh_bruteforce", ip="10.0.0.9", severity=30, message="a_b"),
        make_alert(3, rule="dns_dga", device="gw-1", severity=60, message="odd domains"),
    ])

    def messages(flt: AlertFilter) -> set[str]:
        return {a.message for a in store.alerts.list(flt).items}

    assert messages(AlertFilter(rule_id="ssh_bruteforce")) == {"100% CPU axb", "a_b"}
    assert messages(AlertFilter(group_key="gw-1")) == {"100% CPU axb", "odd domains"}
    assert messages(AlertFilter(group_key="10.0.0.9")) == {"a_b"}
    assert messages(AlertFilter(min_severity=60)) == {"100% CPU axb", "odd domains"}
    assert messages(AlertFilter(since=datetime(2026, 11, 25, 8, 0, 2, tzinfo=UTC))) == {
        "a_b", "odd domains"}
    # LIKE wildcards in the search text are literal
    assert {a.message for a in store.alerts.search("0%").items} == {"100% CPU axb"}
    assert {a.message for a in store.alerts.search("a_b").items} == {"a_b"}
    assert {a.message for a in store.alerts.search("DGA").items} == {"odd domains"}
    with pytest.raises(InvalidRecord, match="naive"):
        store.alerts.list(AlertFilter(since=datetime(2026, 1, 1)))
    with pytest.raises(InvalidRecord, match="status"):
        store.alerts.list(AlertFilter(status=("closed",)))  # type: ignore[arg-type]


def test_groups_by_device_and_rule(store: Store) -> None:
    store.alerts.ingest_many([
        make_alert(1, rule="ssh_bruteforce", device="gw-1", severity=40),
        make_alert(2, rule="ssh_bruteforce", device="gw-1", severity=90),
        make_alert(3, rule="dns_dga", device="gw-1", severity=60),
        make_alert(4, rule="ssh_bruteforce", ip="10.0.0.9", severity=30),
    ])
    first = store.alerts.list(AlertFilter(rule_id="ssh_bruteforce", group_key="gw-1")).items[0]
    store.alerts.set_status(first.id, "triaged", by="ann")
    store.alerts.set_status(first.id, "resolved", by="ann")
    groups = {(g.group_key, g.rule_id): g for g in store.alerts.groups()}
    assert set(groups) == {("gw-1", "ssh_bruteforce"), ("gw-1", "dns_dga"),
                           ("10.0.0.9", "ssh_bruteforce")}
    ssh = groups[("gw-1", "ssh_bruteforce")]
    assert (ssh.count, ssh.open_count, ssh.max_severity) == (2, 1, 90)
    assert ssh.first_seen == datetime(2026, 11, 25, 8, 0, 1, tzinfo=UTC)
    assert ssh.last_seen == datetime(2026, 11, 25, 8, 0, 2, tzinfo=UTC)
    assert [g.rule_id for g in store.alerts.groups(AlertFilter(status=("resolved",)))] == [
        "ssh_bruteforce"]


TRANSITIONS = [
    (["triaged"], "triaged", True),
    (["triaged", "resolved"], "resolved", True),
    (["triaged", "false-positive"], "false-positive", True),
    (["triaged", "resolved", "triaged"], "triaged", True),
    (["resolved"], None, False),
    (["false-positive"], None, False),
    (["triaged", "triaged"], None, False),
    (["triaged", "new"], None, False),
    (["triaged", "resolved", "false-positive"], None, False),
]


@pytest.mark.parametrize(("moves", "final", "allowed"), TRANSITIONS)
def test_status_transitions(store: Store, moves: list[str], final: str | None,
                            allowed: bool) -> None:
    alert_id, _ = store.alerts.ingest(make_alert(1))
    if allowed:
        for move in moves:
            rec = store.alerts.set_status(alert_id, move, by="ann")  # type: ignore[arg-type]
        assert rec.status == final
        return
    with pytest.raises(Conflict, match="cannot go from"):
        for move in moves:
            store.alerts.set_status(alert_id, move, by="ann")  # type: ignore[arg-type]


def test_assign_comment_and_audit(store: Store) -> None:
    alert_id, _ = store.alerts.ingest(make_alert(1))
    assert store.alerts.assign(alert_id, "bob", by="ann").assignee == "bob"
    store.alerts.comment(alert_id, "looks like the camera firmware\nupdate", author="bob")
    store.alerts.comment(alert_id, "confirmed", author="ann")
    assert [c.body for c in store.alerts.comments(alert_id)] == [
        "looks like the camera firmware\nupdate", "confirmed"]
    assert store.alerts.assign(alert_id, None, by="ann").assignee is None
    actions = [(e.actor, e.action) for e in store.audit.list(target=f"alert:{alert_id}").items]
    assert actions == [("ann", "alert.assign"), ("ann", "alert.comment"),
                       ("bob", "alert.comment"), ("ann", "alert.assign"),
                       ("monitor", "alert.ingest")]


@pytest.mark.parametrize(("call", "error"), [
    (lambda s: s.alerts.get("nope"), NotFound),
    (lambda s: s.alerts.set_status("nope", "triaged", by="ann"), NotFound),
    (lambda s: s.alerts.comment("nope", "x", author="ann"), NotFound),
    (lambda s: s.alerts.comments("nope"), NotFound),
    (lambda s: s.alerts.set_status("nope", "done", by="ann"), InvalidRecord),
    (lambda s: s.alerts.comment("nope", " ", author="ann"), InvalidRecord),
    (lambda s: s.alerts.assign("nope", "bob", by=""), InvalidRecord),
    (lambda s: s.alerts.ingest(make_alert(1), by="ev\x00il"), InvalidRecord),
])
def test_bad_triage_calls(store: Store, call: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        call(store)  # type: ignore[operator]


def test_retention_purges_only_old_closed_alerts(store: Store, target: Target) -> None:
    ids = [store.alerts.ingest(make_alert(n))[0] for n in range(4)]
    store.alerts.set_status(ids[0], "triaged", "ana")
    store.alerts.set_status(ids[0], "resolved", "ana")
    store.alerts.set_status(ids[1], "triaged", "ana")
    store.alerts.set_status(ids[1], "false-positive", "ana")
    store.alerts.comment(ids[1], "a CDN, not a scan", "ana")
    store.alerts.set_status(ids[2], "triaged", "ana")  # still open
    assert store.alerts.purge(7, "olga")[0] == 0  # all too new

    month_later = datetime.now(UTC) + timedelta(days=30)
    later = target.open(schema=store._schema, clock=lambda: month_later)
    assert later.alerts.purge(7, "olga", dry_run=True)[0] == 2
    assert later.alerts.count() == 4  # a dry run deletes nothing
    deleted, cutoff = later.alerts.purge(7, "olga")
    assert (deleted, cutoff) == (2, month_later - timedelta(days=7))
    assert sorted(a.id for a in later.alerts.list().items) == sorted(ids[2:])
    (entry,) = later.audit.list(action="alert.retention").items
    assert (entry.actor, entry.details["deleted"]) == ("olga", 2)


@pytest.mark.parametrize("days", [0, -1, 36_501, True, "7"])
def test_retention_refuses_bad_ages(store: Store, days: object) -> None:
    with pytest.raises(InvalidRecord, match="older_than_days"):
        store.alerts.purge(days, "olga")  # type: ignore[arg-type]
