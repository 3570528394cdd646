"""The policy routes over real HTTP: the control plane from `serve_control` (build_app on
uvicorn, TLS from pki/ on SQLite; plain HTTP on PostgreSQL), real dev-IdP tokens, and the
published bundle evaluated by the real embedded engine, as a gateway would."""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from gateway.pdp.embedded import EmbeddedEngine
from gateway.store import DecisionRecord
from tests.gateway.control.conftest import Stack
from tests.gateway.control.test_policies_service import ALLOW_ALL, files, request

PROBLEM = "application/problem+json"


@pytest.fixture(params=["sqlite", "postgresql"])
def any_stack(request: pytest.FixtureRequest) -> Stack:
    stack: Stack = request.getfixturevalue("stack" if request.param == "sqlite" else "pg_stack")
    return stack


@pytest.fixture
def officer(stack: Stack) -> Iterator[httpx.Client]:
    yield stack.client("officer")


def enforced(client: httpx.Client, tmp_path: Path, zone: str) -> bool:
    """Download the public bundle and decide `zone` with it, as a gateway would."""
    response = client.get("/bundles/zonegate.tar.gz", headers={"Authorization": ""})
    assert response.status_code == 200, response.text
    path = tmp_path / "pulled.tar.gz"
    path.write_bytes(response.content)
    return EmbeddedEngine.from_path(path).decide(request(zone)).allow


def upload(client: httpx.Client, revision: str, body: dict[str, str], **extra: object
           ) -> httpx.Response:
    return client.post("/api/policies/files",
                       json={"files": body, "revision": revision, **extra})


def test_lifecycle(any_stack: Stack, tmp_path: Path) -> None:
    c = any_stack.client("officer")
    tag = any_stack.backend[:2]
    first = upload(c, f"{tag}-v1", files())
    assert first.status_code == 201, first.text
    assert first.json()["revision"]["status"] == "active"
    assert enforced(c, tmp_path, "transport") is False
    # a failing upload is stored as rejected and changes nothing in force
    bad = upload(c, f"{tag}-bad", files(authz=ALLOW_ALL))
    assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM
    problem = bad.json()
    assert problem["code"] == "policy-rejected" and problem["revision"] == f"{tag}-bad"
    assert any("test_health_denied" in f for f in problem["failures"])
    assert c.get("/api/policies/active").json()["revision"] == f"{tag}-v1"
    assert enforced(c, tmp_path, "health") is False
    assert c.get(f"/api/policies/{tag}-bad").json()["status"] == "rejected"
    refused = c.post(f"/api/policies/{tag}-bad/activate")
    assert refused.status_code == 409 and refused.json()["code"] == "conflict"
    # a wider policy, activated, diffed, rolled back
    second = upload(c, f"{tag}-v2", files(("open", "transport")))
    assert second.status_code == 201 and enforced(c, tmp_path, "transport") is True
    diff = c.get(f"/api/policies/{tag}-v2/diff", params={"against": f"{tag}-v1"}).json()
    assert '+{"zonegate": {"zones": {"open": ["open", "transport"]}}}' in diff["changed"][
        "data.json"]
    back = c.post("/api/policies/rollback")
    assert back.status_code == 200 and back.json()["revision"] == f"{tag}-v1"
    assert enforced(c, tmp_path, "transport") is False
    history = c.get("/api/policies/history").json()
    assert [(h["revision"], h["kind"], h["by"]) for h in history[:3]] == [
        (f"{tag}-v1", "rollback", "officer"), (f"{tag}-v2", "activate", "officer"),
        (f"{tag}-v1", "activate", "officer")]
    listed = {r["revision"]: r["status"] for r in c.get("/api/policies").json()}
    assert listed == {f"{tag}-v1": "active", f"{tag}-v2": "accepted", f"{tag}-bad": "rejected"}
    # shadow: v2 beside v1 over recorded decisions; nothing enforced
    any_stack.store.decisions.record(DecisionRecord(
        decision_id=f"{tag}-d1", time=datetime.now(UTC), subject="alice", device=None,
        zone="transport", method="GET", path="/zones/transport/x", allow=False,
        reasons=("zone-not-permitted",)))
    assert c.put("/api/policies/shadow", json={"revision": f"{tag}-v2"}).status_code == 200
    report = c.get("/api/policies/shadow/report", params={"limit": 10}).json()
    assert report["against"] == f"{tag}-v1"
    assert [(x["decision_id"], x["kind"]) for x in report["changes"]] == [
        (f"{tag}-d1", "deny->allow")]
    assert enforced(c, tmp_path, "transport") is False
    state = c.delete("/api/policies/shadow").json()
    assert state["revision"] is None
    assert c.get("/api/policies/shadow/report").status_code == 409
    replayed = c.get(f"/api/policies/{tag}-v2/replay", params={"limit": 10}).json()
    assert [(x["decision_id"], x["kind"]) for x in replayed["changes"]] == [
        (f"{tag}-d1", "deny->allow")]
    # every change is in the store's audit, by who
    actions = {(a.action, a.actor) for a in any_stack.store.audit.list(limit=500).items
               if a.target.startswith(f"policy:{tag}-")}
    assert {("policy.add", "officer"), ("policy.activate", "officer"),
            ("policy.rollback", "officer")} <= actions


def test_only_officers(stack: Stack) -> None:
    assert stack.client("analyst").get("/api/policies").status_code == 403
    anonymous = stack.client(None).post("/api/policies/files", json={"files": files()})
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert stack.client("doctor").put("/api/policies/shadow",
                                      json={"revision": "x"}).status_code == 403


@pytest.mark.parametrize(("body", "code"), [
    ({"files": {"../evil.rego": "package x"}}, "unsafe-path"),
    ({"files": {"a/../../evil.rego": "package x"}}, "unsafe-path"),
    ({"files": {"data/zones.json": "{"}}, "unreadable-policy"),
    ({"files": {"x.rego": "package x"}, "surprise": 1}, "validation-error"),
])
def test_refused_file_uploads(officer: httpx.Client, body: dict[str, object], code: str
                              ) -> None:
    response = officer.post("/api/policies/files", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code


def test_syntax_error_is_rejected_with_file_and_line(officer: httpx.Client) -> None:
    response = upload(officer, "syntax", files(authz="package zonegate.authz\n\nx := {\n"))
    assert response.status_code == 422 and response.json()["code"] == "policy-rejected"
    assert any(f.startswith("upload/authz.rego:") and "parse-error" in f
               for f in response.json()["failures"])


def test_refused_bundles(officer: httpx.Client) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("../../etc/evil.rego")
        info.size = 9
        archive.addfile(info, io.BytesIO(b"package x"))
    traversal = officer.post("/api/policies/bundle", content=buffer.getvalue(),
                             headers={"Content-Type": "application/gzip"})
    assert traversal.status_code == 422 and traversal.json()["code"] == "bad-bundle"
    huge = officer.post("/api/policies/bundle", content=b"\0" * (4 * 1024 * 1024 + 1),
                        headers={"Content-Type": "application/gzip"})
    assert huge.status_code == 413
    assert officer.post("/api/policies/bundle", content=b"junk").json()["code"] == "bad-bundle"


def test_multipart_upload(officer: httpx.Client) -> None:
    parts = [("file", (name, body.encode(), "text/plain"))
             for name, body in files(("open", "parking")).items()]
    response = officer.post("/api/policies/files", files=parts,
                            params={"revision": "multi-1", "activate": "false"})
    assert response.status_code == 201, response.text
    assert response.json()["revision"]["status"] == "accepted"
    stored = officer.get("/api/policies/multi-1").json()
    assert json.dumps(stored["test_results"]["files"]) == json.dumps(
        ["authz.rego", "authz_test.rego", "data/zones.json"])


def test_a_restarted_control_plane_keeps_comparing_the_shadow(tmp_path: Path) -> None:
    from tests.gateway.control.conftest import running_stack, sqlite_store

    with sqlite_store(tmp_path) as store:
        with running_stack(tmp_path, store, backend="sqlite", with_tls=False,
                           with_ca=False) as first:
            c = first.client("officer")
            assert upload(c, "r-v1", files()).status_code == 201
            assert upload(c, "r-v2", files(("open", "transport")),
                          activate=False).status_code == 201
            assert c.put("/api/policies/shadow", json={"revision": "r-v2"}).status_code == 200
        store.decisions.record(DecisionRecord(  # made while the control plane was down
            decision_id="r-d1", time=datetime.now(UTC), subject="alice", device=None,
            zone="transport", method="GET", path="/zones/transport/x", allow=False,
            reasons=("zone-not-permitted",), input=request("transport")))
        with running_stack(tmp_path, store, backend="sqlite", with_tls=False,
                           with_ca=False) as second:
            c = second.client("officer")
            state = c.get("/api/policies/shadow").json()
            assert (state["revision"], state["set_by"]) == ("r-v2", "officer")
            # the sweep compares a decision once it has settled (2 s): poll, bounded
            deadline = time.monotonic() + 30
            while not state["disagreements"] and time.monotonic() < deadline:
                time.sleep(0.1)
                state = c.get("/api/policies/shadow").json()
            assert [(d["decision_id"], d["kind"]) for d in state["disagreements"]] == [
                ("r-d1", "deny->allow")]
            assert c.delete("/api/policies/shadow").status_code == 200
        with running_stack(tmp_path, store, backend="sqlite", with_tls=False,
                           with_ca=False) as third:
            assert third.client("officer").get("/api/policies/shadow").json()["revision"] \
                is None
