"""Property test against the OpenAPI document (schemathesis-style, with hypothesis: no new
dependency): requests generated from each operation's parameters and body schema, valid
and invalid alike, never get a 500, and every refusal is problem JSON.

The policy routes (`/api/policies*`, `/bundles/`) are fuzzed the same way, with
multipart and .tar.gz bodies besides JSON, by test_policies_fuzz.py; between the two
modules every operation in the document is covered (checked there).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gateway.control._openapi import (
    JSON,
    TRACEBACK_MARKS,
    from_schema,
    json_values,
    query_value,
    request_body_schema,
)
from tests.gateway.control.conftest import Stack

# the policy routes and the bundle are fuzzed by test_policies_fuzz.py (bodies of their own
# media types, archives, and the policy-in-force invariant); the docs are not the API
SKIP_PREFIXES = ("/api/policies", "/bundles/", "/docs", "/redoc", "/openapi.json")
RAW_BODY = {("POST", "/api/alerts"), ("POST", "/api/alerts/batch")}


def operations(spec: JSON) -> list[tuple[str, str, JSON]]:
    ops = []
    for path, item in spec["paths"].items():
        if path.startswith(SKIP_PREFIXES):
            continue
        for method, op in item.items():
            ops.append((method.upper(), path, op))
    return ops


@pytest.fixture(scope="module")
def spec(stack: Stack) -> JSON:
    document: JSON = stack.client(None).get("/openapi.json").json()
    return document


def test_the_schema_lists_the_operations(spec: JSON) -> None:
    ops = {(m, p) for m, p, _ in operations(spec)}
    assert ("POST", "/api/alerts/{alert_id}/status") in ops
    assert ("GET", "/api/decisions") in ops and len(ops) >= 25


def _request_strategy(spec: JSON, method: str, path: str,
                      op: JSON) -> st.SearchStrategy[tuple[str, dict[str, Any], Any]]:
    params = op.get("parameters", [])
    path_params = {p["name"]: st.text(st.characters(codec="utf-8"),
                                      min_size=1, max_size=30)
                   for p in params if p["in"] == "path"}
    query = {p["name"]: from_schema(spec, p.get("schema", {}))
             for p in params if p["in"] == "query"}
    body_schema = request_body_schema(op, "application/json")
    if (method, path) in RAW_BODY:
        body: st.SearchStrategy[Any] = json_values
    elif body_schema is not None:
        body = from_schema(spec, body_schema)
    else:
        body = st.none()
    return st.tuples(
        st.fixed_dictionaries(path_params).map(
            lambda values: path.format(**{k: quote(v, safe="") for k, v in values.items()})),
        st.fixed_dictionaries({}, optional=query),
        body,
    )


def _property(client: Any, method: str,
              strategy: st.SearchStrategy[tuple[str, dict[str, Any], Any]],
              statuses: list[int]) -> Any:
    @settings(max_examples=20, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def check(request: tuple[str, dict[str, Any], Any]) -> None:
        url, query, body = request
        kwargs: dict[str, Any] = {"params": {k: query_value(v) for k, v in query.items()}}
        if method in ("POST", "PUT"):
            kwargs["content"] = json.dumps(body).encode()
            kwargs["headers"] = {"Content-Type": "application/json"}
        response = client.request(method, url, **kwargs)
        statuses.append(response.status_code)
        assert response.status_code < 500, (method, url, query, body, response.text)
        assert not any(mark in response.text for mark in TRACEBACK_MARKS), response.text
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json", (
                method, url, response.text)

    return check


def test_no_request_gets_a_500(stack: Stack, spec: JSON) -> None:
    client = stack.client("admin")
    failures: list[str] = []
    tried = 0
    statuses: list[int] = []
    for method, path, op in operations(spec):
        try:
            _property(client, method, _request_strategy(spec, method, path, op), statuses)()
        except AssertionError as exc:
            failures.append(f"{method} {path}: {exc}")
        tried += 1
    assert tried >= 25
    # the generated requests reach the endpoints: some are served, some refused as input.
    # Runs served 9-13 % of them, so a 10 % floor flaked; a 3 % floor still fails if
    # generation stops producing valid requests (then almost none are served)
    assert sum(200 <= s < 300 for s in statuses) > len(statuses) * 3 // 100
    assert 422 in statuses and 404 in statuses
    assert not {401, 403} & set(statuses)
    assert not failures, "\n".join(failures)
