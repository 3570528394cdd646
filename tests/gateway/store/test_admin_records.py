"""Policy revisions, the issued-certificate index, decisions, users and the change audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.store import (
    CertificateRecord,
    Conflict,
    DecisionFilter,
    DecisionRecord,
    InvalidRecord,
    NotFound,
    Store,
)

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def _add(store: Store, revision: str, passed: bool = True) -> None:
    store.policies.add(revision, f"bundle {revision}".encode(), "olga", tests_passed=passed,
                       test_results={"passed": 12 if passed else 11, "failed": 0 if passed else 1})


def test_policy_activate_and_rollback_walk_the_history(store: Store) -> None:
    for rev in ("r1", "r2", "r3"):
        _add(store, rev)
    assert store.policies.active() is None
    for rev in ("r1", "r2", "r3"):
        assert store.policies.activate(rev, by="olga").active
    assert store.policies.rollback(by="sam").revision == "r2"
    assert store.policies.rollback(by="sam").revision == "r1"
    with pytest.raises(Conflict, match="no earlier policy revision"):
        store.policies.rollback(by="sam")
    active = store.policies.active()
    assert active is not None and active.revision == "r1"
    assert [r.revision for r in store.policies.revisions() if r.active] == ["r1"]
    assert [(h.revision, h.kind) for h in store.policies.history()] == [
        ("r1", "rollback"), ("r2", "rollback"), ("r3", "activate"), ("r2", "activate"),
        ("r1", "activate")]


def test_policy_rules(store: Store) -> None:
    _add(store, "good")
    _add(store, "bad", passed=False)
    with pytest.raises(Conflict, match="failed its tests"):
        store.policies.activate("bad", by="olga")
    store.policies.activate("good", by="olga")
    with pytest.raises(Conflict, match="already active"):
        store.policies.activate("good", by="olga")
    with pytest.raises(Conflict, match="already exists"):
        _add(store, "good")
    with pytest.raises(Conflict, match="already stored as revision 'good'"):
        store.policies.add("again", b"bundle good", "olga", tests_passed=True)
    with pytest.raises(NotFound):
        store.policies.activate("nope", by="olga")
    assert store.policies.bundle("good") == b"bundle good"
    rec = store.policies.get("bad")
    assert (rec.tests_passed, rec.test_results, rec.size) == (False, {"passed": 11, "failed": 1},
                                                              10)


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"revision": "../x", "bundle": b"x"}, "revision"),
    ({"revision": "", "bundle": b"x"}, "revision"),
    ({"revision": "r", "bundle": b""}, "bundle"),
    ({"revision": "r", "bundle": "text"}, "bundle"),
    ({"revision": "r", "bundle": b"x", "test_results": {"when": T0}}, "test_results"),
])
def test_bad_policy_upload(store: Store, kwargs: dict[str, object], error: str) -> None:
    args = {"uploaded_by": "olga", "tests_passed": True, **kwargs}
    with pytest.raises(InvalidRecord, match=error):
        store.policies.add(**args)  # type: ignore[arg-type]


def test_only_one_active_revision_even_bypassing_the_api(store: Store) -> None:
    _add(store, "r1")
    _add(store, "r2")
    store.policies.activate("r1", by="olga")
    from sqlalchemy import update

    from gateway.store.models import PolicyRevision

    with pytest.raises(Conflict), store._db.write("force a second active") as session:
        session.execute(update(PolicyRevision).where(PolicyRevision.revision == "r2")
                        .values(active=True))


def _cert(serial: str = "0A:1B", spiffe: str = "spiffe://city.example/device/cam-7",
          **kw: object) -> CertificateRecord:
    values: dict[str, object] = {"serial": serial, "spiffe_id": spiffe, "not_before": T0,
                                 "not_after": T0 + timedelta(hours=24), **kw}
    return CertificateRecord(**values)  # type: ignore[arg-type]


def test_certificate_index_and_revocation(store: Store) -> None:
    rec = store.certificates.record(_cert(fingerprint="sha256:" + "ab" * 32), by="ca")
    assert rec.serial == "a1b"
    store.certificates.record(_cert("ff", "spiffe://city.example/svc/health"), by="ca")
    assert store.certificates.get(0xA1B).spiffe_id == "spiffe://city.example/device/cam-7"
    revoked = store.certificates.revoke("0x0a1b", "keyCompromise", by="olga", at=T0)
    assert (revoked.revoked_at, revoked.revocation_reason) == (T0, "keyCompromise")
    with pytest.raises(Conflict, match="already revoked"):
        store.certificates.revoke("a1b", "superseded", by="olga")
    assert [c.serial for c in store.certificates.list(revoked=True)] == ["a1b"]
    assert [c.serial for c in store.certificates.list(revoked=False)] == ["ff"]
    assert store.certificates.list(valid_at=T0 + timedelta(days=2)) == ()
    assert len(store.certificates.list(spiffe_id="spiffe://city.example/svc/health")) == 1
    with pytest.raises(Conflict, match="already indexed"):
        store.certificates.record(_cert("a1b"), by="ca")


@pytest.mark.parametrize(("cert", "error"), [
    (_cert(serial="xyz"), "serial"),
    (_cert(serial="0"), "serial"),
    (_cert(serial="ab" * 21), "serial"),
    (_cert(spiffe="https://city.example/x"), "spiffe_id"),
    (_cert(spiffe="spiffe://City.Example/x"), "spiffe_id"),
    (_cert(not_after=T0), "not_after"),
    (_cert(not_before=datetime(2026, 1, 1)), "naive"),
    (_cert(fingerprint="md5:00"), "fingerprint"),
])
def test_bad_certificate(store: Store, cert: CertificateRecord, error: str) -> None:
    with pytest.raises(InvalidRecord, match=error):
        store.certificates.record(cert, by="ca")


def test_bad_revocation(store: Store) -> None:
    store.certificates.record(_cert(), by="ca")
    with pytest.raises(InvalidRecord, match="reason"):
        store.certificates.revoke("a1b", "because", by="olga")
    with pytest.raises(NotFound):
        store.certificates.revoke("beef", "superseded", by="olga")


def _decision(n: int, **kw: object) -> DecisionRecord:
    values: dict[str, object] = {
        "decision_id": f"d-{n:04d}", "time": T0 + timedelta(seconds=n), "subject": "alice",
        "device": "cam-7", "zone": "health", "method": "GET", "path": f"/zones/health/r/{n}",
        "allow": n % 2 == 0, "reasons": () if n % 2 == 0 else ("device-quarantined",),
        "level": "L3", **kw}
    return DecisionRecord(**values)  # type: ignore[arg-type]


def test_decision_index_search(store: Store) -> None:
    assert store.decisions.record_many(_decision(n) for n in range(10)) == 10
    assert store.decisions.record(_decision(3)) is False
    store.decisions.record(_decision(20, subject="bob", zone="transport", path="/zones/t/%"))
    denied = store.decisions.search(DecisionFilter(allow=False))
    assert [d.decision_id for d in denied.items] == [f"d-{n:04d}" for n in (9, 7, 5, 3, 1)]
    assert {d.decision_id for d in store.decisions.search(
        DecisionFilter(reason="device-quarantined")).items} == {"d-0001", "d-0003", "d-0005",
                                                                 "d-0007", "d-0009"}
    assert store.decisions.search(DecisionFilter(reason="device")).items == ()
    assert [d.subject for d in store.decisions.search(DecisionFilter(zone="transport")).items] \
        == ["bob"]
    assert len(store.decisions.search(DecisionFilter(path_prefix="/zones/t/")).items) == 1
    assert store.decisions.search(DecisionFilter(path_prefix="/zones/%")).items == ()
    page1 = store.decisions.search(DecisionFilter(subject="alice"), limit=4)
    page2 = store.decisions.search(DecisionFilter(subject="alice"), limit=4,
                                   cursor=page1.next_cursor)
    assert [d.decision_id for d in page1.items + page2.items] == [
        f"d-{n:04d}" for n in range(9, 1, -1)]
    assert store.decisions.get("d-0004").reasons == ()
    assert store.audit.list().items == ()  # the decision index is a log, not a change


@pytest.mark.parametrize(("kw", "error"), [
    ({"method": "get"}, "method"),
    ({"reasons": ("Device Quarantined",)}, "reasons"),
    ({"level": "L9"}, "level"),
    ({"allow": "yes"}, "allow"),
    ({"time": datetime(2026, 1, 1)}, "naive"),
    ({"decision_id": ""}, "decision_id"),
    ({"revision": "v" * 129}, "revision"),
    ({"input": ["not", "an", "object"]}, "input: must be a JSON object"),
    ({"input": {"big": "x" * (64 * 1024)}}, "input: larger than"),
    ({"input": {"when": datetime(2026, 1, 1)}}, "input: not JSON"),
])
def test_bad_decision(store: Store, kw: dict[str, object], error: str) -> None:
    with pytest.raises(InvalidRecord, match=error):
        store.decisions.record(_decision(1, **kw))


def test_users_and_roles(store: Store) -> None:
    user = store.users.add("alice", ["soc-analyst"], by="root", display_name="Alice")
    assert (user.roles, user.disabled) == (("soc-analyst",), False)
    store.users.add("bob@city.example", ["security-officer", "admin"], by="root")
    assert store.users.set_roles("alice", ["soc-analyst", "security-officer"],
                                 by="root").roles == ("security-officer", "soc-analyst")
    assert store.users.roles_of("bob@city.example") == ("admin", "security-officer")
    store.users.set_disabled("bob@city.example", True, by="root")
    assert store.users.roles_of("bob@city.example") == ()
    assert store.users.roles_of("nobody") == ()
    assert [u.username for u in store.users.list()] == ["alice", "bob@city.example"]
    with pytest.raises(Conflict, match="already exists"):
        store.users.add("alice", [], by="root")
    with pytest.raises(InvalidRecord, match="unknown"):
        store.users.add("carol", ["superuser"], by="root")
    with pytest.raises(InvalidRecord, match="username"):
        store.users.add("../carol", [], by="root")
    with pytest.raises(NotFound):
        store.users.set_roles("carol", [], by="root")
    audit = store.audit.list(actor="root").items
    assert [(e.action, e.target) for e in audit] == [
        ("user.disable", "user:bob@city.example"), ("user.roles", "user:alice"),
        ("user.add", "user:bob@city.example"), ("user.add", "user:alice")]
    assert audit[1].details == {"from": ["soc-analyst"],
                                "to": ["security-officer", "soc-analyst"]}


def test_failed_change_leaves_no_audit_row(store: Store) -> None:
    with pytest.raises(InvalidRecord):
        store.users.add("carol", ["superuser"], by="root")
    with pytest.raises(NotFound):
        store.certificates.revoke("beef", "superseded", by="olga")
    assert store.audit.list().items == ()


def test_audit_pages(store: Store) -> None:
    for n in range(5):
        store.users.add(f"u{n}", [], by="root")
    first = store.audit.list(limit=3)
    second = store.audit.list(limit=3, cursor=first.next_cursor)
    assert [e.target for e in first.items + second.items] == [f"user:u{n}"
                                                              for n in range(4, -1, -1)]
    assert second.next_cursor is None


def test_record_audits_a_change_made_outside_the_store(store: Store) -> None:
    store.audit.record("officer", "policy.shadow.set", "policy:r7", {"revision": "r7"})
    (entry,) = store.audit.list(action="policy.shadow.set").items
    assert (entry.actor, entry.target, entry.details) == (
        "officer", "policy:r7", {"revision": "r7"})


@pytest.mark.parametrize(("args", "field"), [
    (("", "x", "t"), "actor"),
    (("a", "x" * 65, "t"), "action"),
    (("a", "x", "t\n"), "target"),
    (("a", "x", "t", {"big": "y" * 20_000}), "details"),
    (("a", "x", "t", {"when": object()}), "details"),
])
def test_record_refuses_bad_rows(store: Store, args: tuple[object, ...], field: str) -> None:
    with pytest.raises(InvalidRecord, match=field):
        store.audit.record(*args)  # type: ignore[arg-type]
    assert store.audit.list().items == ()
