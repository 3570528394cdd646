"""Path normalisation and zone routing, from fixed vectors (no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from yarl import URL

from gateway.ingress.errors import AmbiguousPath
from gateway.ingress.paths import normalise_target
from gateway.ingress.routing import ZoneRoute, ZoneTable
from gateway.ingress.upstream import upstream_url

VECTORS = Path(__file__).parents[2] / "vectors" / "ingress" / "paths.json"
CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text(encoding="utf-8"))["cases"]
TABLE = ZoneTable([
    ZoneRoute("health", "/zones/health/", URL("http://127.0.0.1:9101"), "L4"),
    ZoneRoute("transport", "/zones/transport/", URL("http://127.0.0.1:9102/base/"), "L2"),
])


@pytest.mark.parametrize("case", CASES, ids=[c["raw"] for c in CASES])
def test_vector(case: dict[str, Any]) -> None:
    if "reject" in case:
        with pytest.raises(AmbiguousPath) as caught:
            TABLE.match(normalise_target(case["raw"]))
        assert str(caught.value) == case["reject"]
        return
    target = normalise_target(case["raw"])
    assert target.path == case["path"]
    assert target.wire_path == case["wire"]
    # the wire form decodes back to exactly what policy saw
    assert normalise_target(target.wire_path).path == target.path
    match = TABLE.match(target)
    assert (match.zone.name if match else None) == case["zone"]
    if "resource" in case:
        assert match is not None and match.resource_path == case["resource"]
    if "query" in case:
        assert target.query == case["query"]


def test_longest_prefix_wins() -> None:
    table = ZoneTable([
        ZoneRoute("zones", "/zones/", URL("http://127.0.0.1:1"), "L1"),
        ZoneRoute("health", "/zones/health/", URL("http://127.0.0.1:2"), "L4"),
    ])
    match = table.match(normalise_target("/zones/health/x"))
    assert match is not None and match.zone.name == "health"
    match = table.match(normalise_target("/zones/healthy/x"))
    assert match is not None and match.zone.name == "zones"


@pytest.mark.parametrize("prefix", ["/.well-known/zonegate/", "/metrics/", "/healthz/",
                                    "/readyz/", "/.well-known/zonegate/x/"])
def test_reserved_prefixes_refused(prefix: str) -> None:
    from gateway.ingress.errors import IngressSetupError

    with pytest.raises(IngressSetupError, match="reserved"):
        ZoneTable([ZoneRoute("z", prefix, URL("http://127.0.0.1:1"), "L1")])


def test_upstream_url_keeps_base_path_and_exact_encoding() -> None:
    target = normalise_target("/zones/transport/%E5%BC%A0?q=a%20b")
    match = TABLE.match(target)
    assert match is not None
    url = upstream_url(match.zone, target.wire_path, target.raw_query)
    assert str(url) == "http://127.0.0.1:9102/base/zones/transport/%E5%BC%A0?q=a%20b"
