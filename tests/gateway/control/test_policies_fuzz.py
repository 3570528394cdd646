"""Property tests of the policy routes and the bundle, over real HTTP on `serve_control`
with a published, signed bundle: no 500, no traceback, problem JSON for every refusal,
and the policy in force (the store's active revision and the signed bundle published for
gateways) changes only when a response says an upload, activation or rollback did it.

Requests come from the OpenAPI document (every media type an operation accepts: JSON,
multipart/form-data, application/gzip), and targeted strategies build bundle archives
with odd members (absolute, ``..``, links, devices, huge declared sizes, non-UTF-8 and
duplicate names, deep JSON, broken Rego) and damaged multipart framing
(`tests/gateway/control/_policy_strategies.py`). Nothing may land outside the upload:
names and link targets aim at a directory that must stay empty.
"""

from __future__ import annotations

import json
import resource
import tarfile
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.parse import quote

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.pdp.bundle import verify_bundle
from gateway.store import DecisionRecord
from tests.gateway.control import test_openapi_fuzz
from tests.gateway.control._openapi import (
    JSON,
    TRACEBACK_MARKS,
    from_schema,
    query_value,
    request_body_schema,
    text,
)
from tests.gateway.control._policy_strategies import (
    NON_UTF8,
    Traits,
    base_files,
    bundle_archives,
    multipart_bodies,
    nested_rego,
    regular_member,
    surrogate_name,
    surrogate_text,
    tar_stream,
)
from tests.gateway.control.conftest import Stack, running_stack, seed_devices, sqlite_store
from tests.gateway.control.test_policies_service import ALLOW_ALL, files

ROUTES = ("/api/policies", "/bundles/")
SEEDS = ("fz-v1", "fz-v2", "fz-bad")
KEY_ID = "fuzz-key"
EXAMPLES = {"operation": 12, "archive": 120, "multipart": 70}  # about 380 requests


def bounded(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


@dataclass
class PolicyStack:
    stack: Stack
    client: httpx.Client  # a security officer
    published: Path
    public_key: bytes
    outside: Path  # what uploads aim at; must stay empty
    statuses: Counter[tuple[int, str]]  # (status, problem code) of every request sent


@pytest.fixture(scope="module")
def ps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PolicyStack]:
    tmp = tmp_path_factory.mktemp("policy-fuzz")
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp / "signing.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    published, outside = tmp / "published" / "zonegate.tar.gz", tmp / "outside"
    outside.mkdir()
    extra = (f"  publish_bundle: {published}\n  bundle_signing_key: {tmp / 'signing.pem'}\n"
             f"  bundle_key_id: {KEY_ID}\n")
    with sqlite_store(tmp) as store:
        seed_devices(store)
        with running_stack(tmp, store, backend="sqlite", control_extra=extra) as stack:
            client = stack.client("officer")
            for revision, body, activate, status in (
                    ("fz-v1", files(), True, 201),
                    ("fz-v2", files(("open", "transport")), False, 201),
                    ("fz-bad", files(authz=ALLOW_ALL), True, 422)):
                answer = client.post("/api/policies/files", json={
                    "files": body, "revision": revision, "activate": activate})
                assert answer.status_code == status, answer.text
            store.decisions.record_many(DecisionRecord(
                decision_id=f"fz-d{n}", time=store.policies.get("fz-v1").uploaded_at,
                subject="alice", device=None, zone=zone, method="GET",
                path=f"/zones/{zone}/x", allow=False, reasons=("zone-not-permitted",))
                for n, zone in enumerate(("transport", "health", "open")))
            yield PolicyStack(stack, client, published, public, outside, Counter())


# --- the invariant -----------------------------------------------------------------------

def in_force(ps: PolicyStack) -> tuple[str | None, str | None]:
    """(the store's active revision, the revision of the signed bundle published)."""
    active = ps.stack.store.policies.active()
    published = verify_bundle(ps.published, ps.public_key, key_id=KEY_ID).revision \
        if ps.published.exists() else None
    return (active.revision if active else None), published


def claimed_change(method: str, path: str, response: httpx.Response) -> str | None:
    """The revision a response says it put in force, if it says so."""
    if method != "POST" or response.status_code not in (200, 201):
        return None
    body = response.json()
    if path in ("/api/policies/files", "/api/policies/bundle"):
        revision = body["revision"]
        return str(revision["revision"]) if revision["status"] == "active" else None
    if path == "/api/policies/rollback" or path.endswith("/activate"):
        return str(body["revision"])
    return None


def plain_name(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return bool(parts) and not name.startswith("/") and ".." not in parts \
        and "\\" not in name and all(ord(c) >= 0x20 for c in name)


def send(ps: PolicyStack, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request, checked against everything that must hold whatever it was."""
    before = in_force(ps)
    try:
        response = ps.client.request(method, url, **kwargs)
    except httpx.RemoteProtocolError:  # a kept-alive connection the server had just closed
        response = ps.client.request(method, url, **kwargs)  # (a real drop would recur)
    path = httpx.URL(url).path
    where = (method, url, kwargs.get("params"), response.status_code, response.text[:600])
    assert response.status_code < 500, where
    if response.headers.get("content-type") != "application/gzip":
        assert not any(mark in response.text for mark in TRACEBACK_MARKS), where
    code = ""
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json", where
        code = response.json()["code"]
    ps.statuses[(response.status_code, code)] += 1
    after = in_force(ps)
    assert after[0] == after[1], ("the published bundle is not the active revision", where)
    claimed = claimed_change(method, path, response)
    if claimed is not None:
        assert after[0] == claimed, where
    else:
        assert after == before, ("the policy in force changed", before, after, where)
    stored = response.json() if code in ("", "policy-rejected") and path.startswith(
        "/api/policies/") and path.endswith(("/files", "/bundle")) else None
    if stored is not None:
        results = stored["revision"]["test_results"] if code == "" else stored["test_results"]
        assert all(plain_name(n) for n in results["files"]), where
    assert list(ps.outside.iterdir()) == [], where
    return response


def bundle_post(ps: PolicyStack, archive: bytes, **params: str) -> httpx.Response:
    return send(ps, "POST", "/api/policies/bundle", content=archive, params=params,
                headers={"Content-Type": "application/gzip"})


# --- requests from the OpenAPI document ---------------------------------------------------

def policy_operations(spec: JSON) -> list[tuple[str, str, JSON]]:
    """The policy operations, DELETE last (so that a shadow set is reported on first)."""
    ops = [(method.upper(), path, op) for path, item in spec["paths"].items()
           if path.startswith(ROUTES) for method, op in item.items()]
    return sorted(ops, key=lambda o: o[0] == "DELETE")


@pytest.fixture(scope="module")
def spec(ps: PolicyStack) -> JSON:
    document: JSON = ps.client.get("/openapi.json").json()
    return document


def test_every_operation_is_fuzzed(spec: JSON) -> None:
    """This module and test_openapi_fuzz.py together cover the whole document."""
    everything = {(m.upper(), p) for p, item in spec["paths"].items() for m in item
                  if p not in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect")}
    ours = {(m, p) for m, p, _ in policy_operations(spec)}
    theirs = {(m, p) for m, p, _ in test_openapi_fuzz.operations(spec)}
    assert ours | theirs == everything and not ours & theirs
    assert ("POST", "/api/policies/bundle") in ours and len(ours) >= 15


revisions = st.one_of(st.sampled_from(SEEDS), st.text(min_size=1, max_size=30),
                      st.sampled_from(["fz-v1/../fz-v2", ".", "%00", "a" * 200]))


def operation_requests(spec: JSON, method: str, path: str, op: JSON, outside: Path
                       ) -> st.SearchStrategy[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(url, query, httpx keyword arguments) for one operation, any declared media type."""
    params = op.get("parameters", [])
    query = {p["name"]: from_schema(spec, p.get("schema", {}))
             for p in params if p["in"] == "query"}
    if path == "/api/policies/files":  # read from the query for multipart uploads
        query.update(revision=st.one_of(revisions, st.none()),
                     activate=st.sampled_from(["true", "false", "0", ""]))
    bodies: list[st.SearchStrategy[dict[str, Any]]] = [st.just({})]
    for media in op.get("requestBody", {}).get("content", {}):
        if media == "application/json":
            schema = request_body_schema(op, media) or {}
            # besides the schema's: a valid policy, and maps of odd names to odd text
            names = st.one_of(text, surrogate_text).map(lambda t: t + ".rego")
            valid = st.one_of(st.just({"files": {k: v.decode() for k, v in base_files(
                "op", ["open"], "directory").items()}}), st.fixed_dictionaries({"files": (
                    st.dictionaries(names, st.one_of(text, surrogate_text), min_size=1,
                                    max_size=3))})) if path.endswith("/files") \
                else st.sampled_from(SEEDS).map(lambda r: {"revision": r})
            bodies = [st.one_of(from_schema(spec, schema), valid).map(lambda b: {
                "content": json.dumps(b).encode(),  # ASCII: lone surrogates as \\udc80
                "headers": {"Content-Type": "application/json"}})]
        elif media == "multipart/form-data":
            bodies.append(multipart_bodies(outside, bundle_archives(outside)).map(
                lambda m: {"content": m[1], "headers": {"Content-Type": m[0]}}))
        elif media == "application/gzip":
            bodies = [bundle_archives(outside).map(lambda a: {
                "content": a[0], "headers": {"Content-Type": "application/gzip"}})]
    url = st.just(path) if "{revision}" not in path else revisions.map(
        lambda r: path.format(revision=quote(r, safe="")))
    return st.tuples(url, st.fixed_dictionaries({}, optional=query), st.one_of(bodies))


def _operation_property(ps: PolicyStack, spec: JSON, method: str, path: str, op: JSON
                        ) -> Any:
    @bounded(EXAMPLES["operation"])
    @given(operation_requests(spec, method, path, op, ps.outside))
    def check(request: tuple[str, dict[str, Any], dict[str, Any]]) -> None:
        url, query, kwargs = request
        send(ps, method, url, params={k: query_value(v) for k, v in query.items()}, **kwargs)

    return check


def test_no_policy_request_gets_a_500(ps: PolicyStack, spec: JSON) -> None:
    failures: list[str] = []
    for method, path, op in policy_operations(spec):
        try:
            _operation_property(ps, spec, method, path, op)()
        except AssertionError as exc:
            failures.append(f"{method} {path}: {exc}")
    assert not failures, "\n".join(failures)
    seen = {status for status, _ in ps.statuses}
    assert {200, 201, 404, 409, 422} <= seen, ps.statuses


# --- targeted: archives and multipart bodies -----------------------------------------------

@pytest.fixture(scope="module")
def archives(ps: PolicyStack) -> st.SearchStrategy[tuple[bytes, Traits]]:
    return bundle_archives(ps.outside)


def test_odd_archives(ps: PolicyStack, archives: st.SearchStrategy[tuple[bytes, Traits]]
                      ) -> None:
    outcomes: Counter[str] = Counter()

    @bounded(EXAMPLES["archive"])
    @given(archives, st.sampled_from(["true", "false"]))
    def check(generated: tuple[bytes, Traits], activate: str) -> None:
        archive, traits = generated
        response = bundle_post(ps, archive, activate=activate)
        code = "" if response.status_code < 400 else response.json()["code"]
        outcomes[f"{response.status_code} {code}"] += 1
        if traits.unsafe and not traits.mangled:
            assert (response.status_code, code) == (422, "bad-bundle"), (traits, response.text)
        if traits.clean and code != "conflict":  # 409: this content is already stored
            assert response.status_code == 201, (traits, response.text)
            status = response.json()["revision"]["status"]
            assert status == ("active" if activate == "true" else "accepted")

    check()
    assert outcomes["201 "] >= 5 and outcomes["422 bad-bundle"] >= 5, outcomes


def test_odd_multipart_uploads(ps: PolicyStack,
                               archives: st.SearchStrategy[tuple[bytes, Traits]]) -> None:
    outcomes: Counter[str] = Counter()

    @bounded(EXAMPLES["multipart"])
    @given(multipart_bodies(ps.outside, archives), st.sampled_from(["true", "false"]))
    def check(generated: tuple[str, bytes, Traits], activate: str) -> None:
        content_type, body, traits = generated
        response = send(ps, "POST", "/api/policies/files", content=body,
                        params={"activate": activate}, headers={"Content-Type": content_type})
        outcomes[str(response.status_code)] += 1
        if traits.clean:  # 409: this content is already stored
            assert response.status_code in (201, 409), (traits, response.text)

    check()
    assert outcomes["201"] >= 3 and outcomes["422"] >= 3, outcomes


# --- targeted: each hole found, closed --------------------------------------------------------

def _tgz(members: list[tuple[str, bytes]], fmt: Literal[0, 1, 2] = tarfile.PAX_FORMAT) -> bytes:
    return zlib.compress(tar_stream([regular_member(n, raw) for n, raw in members], fmt),
                         9, wbits=31)


def _valid(nonce: str) -> list[tuple[str, bytes]]:
    return list(base_files(nonce, ["open"], "bundle").items())


@pytest.mark.parametrize("name", NON_UTF8)
def test_non_utf8_member_names_are_refused_not_a_500(ps: PolicyStack, name: str) -> None:
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        answer = bundle_post(ps, _tgz([*_valid(f"u8-{fmt}-{name!r}"), (name, b"{}")], fmt))
        assert (answer.status_code, answer.json()["code"]) == (422, "bad-file-name")
    parts = b'--b\r\nContent-Disposition: form-data; name="f"; filename="' \
        + surrogate_name(name) + b'"\r\n\r\n{}\r\n--b--\r\n'
    answer = send(ps, "POST", "/api/policies/files", content=parts,
                  headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert answer.status_code == 422
    answer = send(ps, "POST", "/api/policies/files", content=json.dumps(
        {"files": {name: "{}"}}).encode(), headers={"Content-Type": "application/json"})
    assert (answer.status_code, answer.json()["code"]) == (422, "bad-file-name")


def test_lone_surrogates_are_refused_not_a_500(ps: PolicyStack) -> None:
    # a file body that is not Unicode, and data whose JSON escapes one (was a 500)
    data = '{"zonegate": {"zones": {"open": ["open"]}, "x": "\\ud800"}}'
    for body in ({"authz.rego": "package x\n# \ud800\n"},
                 {**{n: raw.decode() for n, raw in _valid("s")}, "data.json": data}):
        answer = send(ps, "POST", "/api/policies/files", headers={
            "Content-Type": "application/json"}, content=json.dumps({"files": body}).encode())
        assert (answer.status_code, answer.json()["code"]) == (422, "not-utf8"), answer.text
    answer = bundle_post(ps, _tgz([*_valid("s")[:2], ("data.json", data.encode())]))
    assert (answer.status_code, answer.json()["code"]) == (422, "not-utf8"), answer.text


@pytest.mark.parametrize("link", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_links_and_traversal_never_touch_the_disk(ps: PolicyStack, link: bytes) -> None:
    target = ps.outside / "pwned.rego"
    info = tarfile.TarInfo("evil.rego")
    info.type, info.linkname = link, str(target)
    traversal = regular_member("../" * 16 + str(target).lstrip("/"), b"package pwned\n")
    valid = [regular_member(n, raw) for n, raw in _valid(f"link-{link!r}")]
    for members in ([*valid, (info, b"")], [traversal, *valid]):
        answer = bundle_post(ps, zlib.compress(tar_stream(members, tarfile.PAX_FORMAT),
                                               wbits=31))
        assert (answer.status_code, answer.json()["code"]) == (422, "bad-bundle")
        assert not target.exists() and not Path("/pwned.rego").exists()


def test_a_header_bomb_is_refused_in_bounded_memory(ps: PolicyStack) -> None:
    # a pax header declaring 256 MiB of zeros: 250 KB compressed. tarfile buffers a pax
    # header whole, so before the bounded inflate this cost the control plane 256 MiB
    size = 256 * 2**20
    header = tarfile.TarInfo("././@PaxHeader")
    header.type, header.size = tarfile.XHDTYPE, size
    deflate = zlib.compressobj(1, zlib.DEFLATED, 31)
    bomb = deflate.compress(header.tobuf(tarfile.USTAR_FORMAT))
    bomb += b"".join(deflate.compress(bytes(2**20)) for _ in range(size >> 20))
    bomb += deflate.flush()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    answer = bundle_post(ps, bomb)
    assert (answer.status_code, answer.json()["code"]) == (413, "too-large")
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - peak
    assert grown < 64 * 2**20, f"the peak grew by {grown >> 20} MiB"


@pytest.mark.parametrize("depth", [17, 40])
def test_deeply_nested_rego_is_refused_before_the_parser(ps: PolicyStack, depth: int) -> None:
    # regorus takes time exponential in this depth (20 levels: minutes); the code says the
    # refusal came from the estimate before the parser, which would otherwise name a
    # parse error or not answer at all
    answer = bundle_post(ps, _tgz([*_valid(f"deep-{depth}"), ("deep.rego", nested_rego(depth))]))
    assert (answer.status_code, answer.json()["code"]) == (422, "too-deeply-nested")


def test_the_shipped_policies_pass_the_nesting_bound(ps: PolicyStack) -> None:
    root = Path(__file__).resolve().parents[3] / "policies"
    body = {"files": {str(p.relative_to(root)): p.read_text(encoding="utf-8")
                      for p in sorted(root.rglob("*"))
                      if p.is_file() and p.suffix in (".rego", ".json")},
            "activate": False, "revision": "fz-shipped"}
    answer = send(ps, "POST", "/api/policies/files", json=body)
    assert answer.status_code == 201, answer.text


@pytest.mark.parametrize(("manifest", "detail"), [
    (b'{"roots": 5}', "roots must be a list"),
    (b'{"roots": ["zonegate", 1]}', "roots must be a list"),
    (b'{"revision": 7}', "revision must be a string"),
])
def test_manifests_opa_would_refuse_are_refused(ps: PolicyStack, manifest: bytes,
                                                detail: str) -> None:
    answer = bundle_post(ps, _tgz([*_valid(f"m-{manifest!r}"), (".manifest", manifest)]))
    assert (answer.status_code, answer.json()["code"]) == (422, "bad-manifest")
    assert detail in answer.json()["detail"]
