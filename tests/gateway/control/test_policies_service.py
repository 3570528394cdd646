"""PolicyService on a real store (SQLite and PostgreSQL) with the real regorus engine.

The policy under test is small on purpose (a zone allow-list in data and two Rego tests) so
each upload compiles and tests in milliseconds; one case uploads the shipped policies/.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.control.policy_service import (
    NotReady,
    PolicyService,
    UploadLimits,
    UploadRefused,
    UploadTooLarge,
)
from gateway.pdp.bundle import bundle_members, sign_members, verify_bundle, write_archive
from gateway.pdp.embedded import EmbeddedEngine
from gateway.pdp.port import Decision, JSONObject
from gateway.pdp.source import load_source
from gateway.store import Conflict, DecisionRecord, Store

ROOT = Path(__file__).resolve().parents[3]
PG = "127.0.0.1", 5432, "test"

AUTHZ = """package zonegate.authz

default decision := {"allow": false, "reasons": ["zone-not-permitted"], "obligations": {}}

decision := {"allow": true, "reasons": [], "obligations": {}} if {
\tinput.subject.authenticated
\tinput.resource.zone in data.zonegate.zones.open
}
"""
TESTS = """package zonegate.authz_test

import data.zonegate.authz

test_open_allowed if {
\tauthz.decision.allow with input as {"subject": {"authenticated": true},
\t\t"resource": {"zone": "open"}}
}

test_health_denied if {
\tnot authz.decision.allow with input as {"subject": {"authenticated": true},
\t\t"resource": {"zone": "health"}}
}
"""
ALLOW_ALL = AUTHZ.replace("\tinput.resource.zone in data.zonegate.zones.open\n", "")


def files(zones: tuple[str, ...] = ("open",), authz: str = AUTHZ) -> dict[str, str]:
    return {"authz.rego": authz, "authz_test.rego": TESTS,
            "data/zones.json": json.dumps({"open": list(zones)})}


def request(zone: str, authenticated: bool = True) -> JSONObject:
    return {"subject": {"authenticated": authenticated, "id": "alice", "roles": []},
            "resource": {"zone": zone, "path": "/x"}, "request": {"method": "GET"}}


def pg_user() -> str:
    for user in ("postgres", "root"):
        try:
            with psycopg.connect(host=PG[0], port=PG[1], dbname=PG[2], user=user,
                                 connect_timeout=3):
                return user
        except psycopg.OperationalError:
            continue
    pytest.fail("PostgreSQL on 127.0.0.1:5432 accepts neither postgres nor root")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path,
          require_service: Callable[[str, int], None]) -> Iterator[Store]:
    if request.param == "sqlite":
        with Store.open(f"sqlite:///{tmp_path / 'zonegate.db'}") as opened:
            opened.migrate()
            yield opened
        return
    require_service("PostgreSQL", PG[1])
    user = pg_user()
    schema = f"zg_test_{os.getpid()}_{uuid.uuid4().hex[:8]}_pol"
    try:
        with Store.open(f"postgresql://{user}@{PG[0]}:{PG[1]}/{PG[2]}", schema=schema) as opened:
            opened.migrate()
            yield opened
    finally:
        with psycopg.connect(host=PG[0], port=PG[1], dbname=PG[2], user=user,
                             autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


@pytest.fixture
def service(store: Store, tmp_path: Path, keys: tuple[bytes, bytes]) -> PolicyService:
    return PolicyService(store, publish_path=tmp_path / "published" / "bundle.tar.gz",
                         signing_key=keys[0], key_id="cp-1", verification_key=keys[1],
                         decision_log=tmp_path / "decisions.jsonl",
                         zone_prefixes={"open": "/zones/open/"})


def enforced(service: PolicyService, public_key: bytes, zone: str) -> bool:
    """What a gateway loading the published, signed bundle decides for `zone`."""
    assert service.publish_path is not None
    engine = EmbeddedEngine.from_path(service.publish_path, verification_key=public_key)
    return engine.decide(request(zone)).allow


def tar_of(members: dict[str, bytes], kinds: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, raw in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            archive.addfile(info, io.BytesIO(raw))
        for name, target in (kinds or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target.decode()
            archive.addfile(info)
    return buffer.getvalue()


# --- upload ------------------------------------------------------------------------------

def test_good_upload_activates_and_publishes_signed(service: PolicyService,
                                                     keys: tuple[bytes, bytes]) -> None:
    outcome = service.upload_files(files(), "officer", revision="v1")
    assert (outcome.status, outcome.failures) == ("active", ())
    tests = outcome.record.test_results["tests"]
    assert isinstance(tests, dict)
    assert tests["summary"] == {"pass": 2, "fail": 0, "error": 0, "skip": 0}
    assert service.active() is not None and service.active().revision == "v1"  # type: ignore[union-attr]
    assert service.publish_path is not None
    report = verify_bundle(service.publish_path, keys[1], key_id="cp-1")
    assert report.revision == "v1"
    assert enforced(service, keys[1], "open") is True
    assert enforced(service, keys[1], "health") is False
    audit = service.store.audit.list(target="policy:v1").items
    assert {a.action for a in audit} == {"policy.add", "policy.activate"}
    assert {a.actor for a in audit} == {"officer"}


def test_shipped_policies_upload_as_a_signed_bundle(service: PolicyService,
                                                    keys: tuple[bytes, bytes],
                                                    tmp_path: Path) -> None:
    members = bundle_members(load_source(ROOT / "policies"), revision="shipped-1")
    members[".signatures.json"] = sign_members(members, keys[0], key_id="cp-1",
                                               algorithm="ES256")
    write_archive(tmp_path / "b.tar.gz", members)
    outcome = service.upload_archive((tmp_path / "b.tar.gz").read_bytes(), "officer")
    assert outcome.status == "active" and outcome.record.revision == "shipped-1"


def test_tampered_signed_bundle_is_refused(service: PolicyService, keys: tuple[bytes, bytes],
                                           tmp_path: Path) -> None:
    members = bundle_members(load_source(ROOT / "policies"), revision="evil")
    members[".signatures.json"] = sign_members(members, keys[0], key_id="cp-1",
                                               algorithm="ES256")
    members["authz.rego"] += b"\n# changed after signing\n"
    write_archive(tmp_path / "b.tar.gz", members)
    with pytest.raises(UploadRefused, match="digest mismatch"):
        service.upload_archive((tmp_path / "b.tar.gz").read_bytes(), "officer")
    assert service.revisions() == ()


@pytest.mark.parametrize(("authz", "expected"), [
    (ALLOW_ALL, "test_health_denied: fail"),
    ("package zonegate.authz\n\ndecision := {\n", "parse-error"),
    (AUTHZ.replace("\tinput.subject.authenticated\n",
                   "\tinput.subject.authenticated\n"
                   "\tcount(crypto.x509.parse_certificates(\"x\")) > 0\n"), "unknown-builtin"),
    (AUTHZ.replace("decision", "verdict"), "no rule data.zonegate.authz.decision"),
], ids=["failing-test", "syntax-error", "unknown-builtin", "no-decision-rule"])
def test_failing_upload_is_rejected_and_the_active_one_stays(
        service: PolicyService, keys: tuple[bytes, bytes], authz: str, expected: str) -> None:
    service.upload_files(files(), "officer", revision="good")
    assert enforced(service, keys[1], "health") is False
    outcome = service.upload_files(files(authz=authz), "mallory", revision="bad")
    assert outcome.status == "rejected"
    assert any(expected in failure for failure in outcome.failures), outcome.failures
    assert outcome.record.test_results["failures"] == list(outcome.failures)
    assert service.active().revision == "good"  # type: ignore[union-attr]
    assert enforced(service, keys[1], "health") is False  # the published bundle is unchanged
    with pytest.raises(Conflict, match="failed its tests"):
        service.activate("bad", "mallory")
    audit = service.store.audit.list(target="policy:bad").items
    assert [(a.action, a.details["tests_passed"]) for a in audit] == [("policy.add", False)]


def test_upload_without_tests_is_rejected(service: PolicyService) -> None:
    outcome = service.upload_files({"authz.rego": AUTHZ}, "officer")
    assert outcome.status == "rejected"
    assert "no tests" in outcome.failures[0]


@pytest.mark.parametrize("name", ["../evil.rego", "a/../../evil.rego", "/etc/evil.rego",
                                  "a\\..\\evil.rego", "a//b.rego", "./a.rego", "x\x00.rego",
                                  ".hidden/a.rego", "run.sh"])
def test_unsafe_file_names_are_refused(service: PolicyService, name: str) -> None:
    with pytest.raises(UploadRefused):
        service.upload_files({**files(), name: AUTHZ}, "officer")
    assert service.revisions() == ()


@pytest.mark.parametrize(("members", "links"), [
    ({"../evil.rego": b"package x"}, {}),
    ({"a/../../evil.rego": b"package x"}, {}),
    ({"authz.rego": AUTHZ.encode()}, {"link.rego": b"/etc/passwd"}),
], ids=["dotdot", "nested-dotdot", "symlink"])
def test_unsafe_tar_members_are_refused(service: PolicyService, members: dict[str, bytes],
                                        links: dict[str, bytes]) -> None:
    with pytest.raises(UploadRefused, match="not a plain relative file") as caught:
        service.upload_archive(tar_of(members, links), "officer")
    assert "zonegate-upload-" not in str(caught.value)  # no server paths leak
    assert service.revisions() == ()


def test_garbage_archive_is_refused(service: PolicyService) -> None:
    with pytest.raises(UploadRefused, match="not a readable"):
        service.upload_archive(b"not a tarball", "officer")


def test_oversize_uploads_are_refused(store: Store) -> None:
    small = PolicyService(store, limits=UploadLimits(max_archive_bytes=2048,
                                                     max_file_bytes=1024,
                                                     max_total_bytes=1500, max_files=3))
    with pytest.raises(UploadTooLarge, match="more than 2048"):
        small.upload_archive(b"\x1f\x8b" + b"\0" * 4096, "officer")
    with pytest.raises(UploadTooLarge, match=r"authz\.rego"):
        small.upload_files({**files(), "authz.rego": AUTHZ + "#" * 2000}, "officer")
    with pytest.raises(UploadTooLarge, match="in all"):
        small.upload_files({"a.rego": "#" * 800, "b.rego": "#" * 800}, "officer")
    with pytest.raises(UploadTooLarge, match="files"):
        small.upload_files({f"{n}.rego": "#" for n in range(4)}, "officer")
    assert store.policies.revisions() == ()


def test_same_content_twice_is_a_conflict(service: PolicyService) -> None:
    service.upload_files(files(), "officer")
    with pytest.raises(Conflict, match="already"):
        service.upload_files(files(), "officer")


# --- activation, rollback, diff -----------------------------------------------------------

def test_rollback_and_activate(service: PolicyService, keys: tuple[bytes, bytes]) -> None:
    service.upload_files(files(), "officer", revision="v1")
    service.upload_files(files(("open", "transport")), "officer", revision="v2")
    assert enforced(service, keys[1], "transport") is True
    assert service.rollback("officer").revision == "v1"
    assert enforced(service, keys[1], "transport") is False
    with pytest.raises(Conflict, match="no earlier"):
        service.rollback("officer")
    service.activate("v2", "officer")
    assert enforced(service, keys[1], "transport") is True
    assert [(h.revision, h.kind) for h in service.history()] == [
        ("v2", "activate"), ("v1", "rollback"), ("v2", "activate"), ("v1", "activate")]
    staged = service.upload_files(files(("open", "parking")), "officer", revision="v3",
                                  activate=False)
    assert staged.status == "accepted" and service.active().revision == "v2"  # type: ignore[union-attr]


def test_diff_is_unified_per_file(service: PolicyService) -> None:
    service.upload_files(files(), "officer", revision="v1")
    service.upload_files({**files(("open", "transport")), "extra.rego": "package extra\n"},
                         "officer", revision="v2", activate=False)
    diff = service.diff("v2")  # against the active one
    assert (diff.revision, diff.against) == ("v2", "v1")
    assert diff.added == ("extra.rego",) and diff.removed == ()
    assert set(diff.changed) == {".manifest", "data.json"}
    assert "--- v1/data.json" in diff.changed["data.json"]
    assert '+{"zonegate": {"zones": {"open": ["open", "transport"]}}}' in diff.changed["data.json"]
    assert service.diff("v1", "v2").removed == ("extra.rego",)
    with pytest.raises(NotReady):
        service.diff("v1")  # v1 is active and the oldest


# --- shadow and replay --------------------------------------------------------------------

def record(service: PolicyService, n: int, zone: str, allow: bool) -> DecisionRecord:
    decision = DecisionRecord(
        decision_id=f"d{n}", time=datetime(2026, 11, 25, 8, tzinfo=UTC) + timedelta(seconds=n),
        subject="alice", device=None, zone=zone, method="GET", path=f"/zones/{zone}/x",
        allow=allow, reasons=() if allow else ("zone-not-permitted",))
    service.store.decisions.record(decision)
    return decision


def test_shadow_reports_disagreements_and_enforces_nothing(service: PolicyService,
                                                           keys: tuple[bytes, bytes]) -> None:
    service.upload_files(files(), "officer", revision="v1")
    service.upload_files(files(("open", "transport")), "officer", revision="v2", activate=False)
    assert service.shadow_compare(request("transport")) is None  # no shadow yet
    state = service.set_shadow("v2", "officer")
    assert (state.revision, state.active_revision, state.set_by) == ("v2", "v1", "officer")
    assert service.shadow_compare(request("open")) is None
    seen = service.shadow_compare(request("transport"), decision_id="live-1")
    assert seen is not None and seen.kind == "deny->allow" and seen.decision_id == "live-1"
    enforced_deny = Decision.deny("device-quarantined")
    seen = service.shadow_compare(request("open"), enforced_deny)
    assert seen is not None and seen.kind == "deny->allow"
    state = service.shadow()
    assert state.compared == 3 and len(state.disagreements) == 2
    assert service.active().revision == "v1"  # type: ignore[union-attr]
    assert enforced(service, keys[1], "transport") is False
    # over recorded decisions: one from the full log, the others rebuilt from the index
    record(service, 1, "open", True)
    record(service, 2, "transport", False)
    record(service, 3, "health", False)
    assert service.decision_log is not None
    service.decision_log.write_text(json.dumps({
        "decision_id": "d2", "input": request("transport"),
        "result": {"allow": False, "reasons": ["zone-not-permitted"]}}) + "\n")
    report = service.shadow_report(limit=10)
    assert (report.revision, report.against, report.total, report.from_log) == ("v2", "v1", 3, 1)
    assert [(c.decision_id, c.kind, c.input_source) for c in report.changes] == [
        ("d2", "deny->allow", "log")]
    service.clear_shadow("officer")
    assert service.shadow_compare(request("transport")) is None
    with pytest.raises(NotReady, match="no shadow"):
        service.shadow_report()


def test_rejected_revision_cannot_shadow(service: PolicyService) -> None:
    service.upload_files(files(), "officer", revision="v1")
    service.upload_files(files(authz=ALLOW_ALL), "officer", revision="bad")
    with pytest.raises(NotReady, match="failed its checks"):
        service.set_shadow("bad", "officer")


def test_replay_lists_what_would_change(service: PolicyService) -> None:
    service.upload_files(files(), "officer", revision="v1")
    service.upload_files(files(("open", "transport")), "officer", revision="v2", activate=False)
    record(service, 1, "open", True)
    record(service, 2, "transport", False)
    assert service.decision_log is not None
    service.decision_log.write_text("".join(json.dumps({
        "decision_id": f"d{n}", "input": request(zone),
        "result": {"allow": allow, "reasons": [] if allow else ["zone-not-permitted"]}}) + "\n"
        for n, zone, allow in ((1, "open", True), (2, "transport", False))))
    assert service.replay("v1").changes == ()
    wider = service.replay("v2")
    assert (wider.revision, wider.total, wider.from_log) == ("v2", 2, 2)
    assert [(c.decision_id, c.kind, c.input_source) for c in wider.changes] == [
        ("d2", "deny->allow", "log")]
    # decided under a wider policy, indexed but not in the log: its input is rebuilt
    record(service, 3, "transport", True)
    narrower = service.replay("v1", limit=5)
    assert (narrower.total, narrower.from_log) == (3, 2)
    assert [(c.decision_id, c.kind, c.input_source) for c in narrower.changes] == [
        ("d3", "allow->deny", "index")]
    assert service.replay("v2", limit=1).total == 1  # only the newest decision
    with pytest.raises(NotReady, match="limit"):
        service.replay("v2", limit=0)


def _restarted(service: PolicyService) -> PolicyService:
    """A second control plane over the same store, as after a restart."""
    return PolicyService(service.store, decision_log=service.decision_log,
                         zone_prefixes=service.zone_prefixes)


def test_a_restart_keeps_the_shadow_until_it_is_cleared(service: PolicyService) -> None:
    service.upload_files(files(), "officer", revision="v1")
    service.upload_files(files(("open", "transport")), "officer", revision="v2", activate=False)
    assert _restarted(service).restore_shadow() is None  # never set
    service.set_shadow("v2", "officer")
    [audited] = service.store.audit.list(action="policy.shadow-set", limit=1).items
    again = _restarted(service)
    assert again.restore_shadow() == "v2"
    state = again.shadow()
    assert (state.revision, state.set_by) == ("v2", "officer")
    assert state.set_at == audited.at  # when it was set, as the change audit recorded it
    seen = again.shadow_compare(request("transport"))
    assert seen is not None and seen.kind == "deny->allow"  # and it compares again
    again.clear_shadow("officer")
    assert _restarted(service).restore_shadow() is None  # the clear is the latest word
    service.set_shadow("v2", "officer2")
    assert _restarted(service).shadow_candidate() is None  # restore is explicit
    third = _restarted(service)
    assert third.restore_shadow() == "v2" and third.shadow().set_by == "officer2"


def test_a_shadow_whose_revision_cannot_be_read_is_not_restored(
        service: PolicyService, caplog: pytest.LogCaptureFixture) -> None:
    service.upload_files(files(), "officer", revision="v1")
    service.store.audit.record("officer", "policy.shadow-set", "policy:gone", {})
    with caplog.at_level("ERROR", "zonegate"):
        assert _restarted(service).restore_shadow() is None
    assert "policy shadow gone (set by officer" in caplog.text and "not restored" in caplog.text
