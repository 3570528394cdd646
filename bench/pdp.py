"""Policy decision point: decisions per second and p50/p99 latency per engine.

Rows: the embedded engine (regorus) uncached and behind the decision cache, and the `opa`
adapter over HTTP against the stand-in OPA server (tests/gateway/pdp/opa_standin.py, which
evaluates with regorus; there is no OPA binary here), uncached and cached. The input is a
doctor reading a patient record (the shipped policy's most complete path). Each row runs a
fixed time budget so the whole benchmark stays well under a minute.

    .venv/bin/python -m bench pdp
"""

from __future__ import annotations

import asyncio
import copy
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry

from bench._report import report
from gateway.pdp import CachedEngine, DecisionCache, EmbeddedEngine, OPAEngine, PolicyEngine
from gateway.pdp.port import JSONObject

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
BUDGET_SECONDS = 3.0

INPUT: JSONObject = {
    "request": {"id": "req-1", "method": "GET", "path": "/zones/health/records/7",
                "host": "gw.city.example", "query": {}, "time": "2026-11-25T03:00:00Z",
                "headers": {}},
    "subject": {"authenticated": True, "type": "user", "id": "dr-li",
                "issuer": "https://idp.city.example", "roles": ["doctor"],
                "groups": ["health-dept"], "clearance": "L4", "acr": "mfa",
                "amr": ["pwd", "otp"], "auth_time": 1795575000, "spiffe_id": ""},
    "device": {"id": "ws-17", "cert_fingerprint": "sha256:ab", "trust": "trusted",
               "posture": {"class": "medical-workstation"}},
    "source": {"ip": "10.1.0.17", "zone": "hospital-net"},
    "resource": {"zone": "health", "level": "L4", "path": "/records/7"},
    "context": {"risk": 10},
}


def _inputs(distinct: int) -> list[JSONObject]:
    """`distinct` different inputs (record ids), each with its own request id."""
    docs = []
    for index in range(distinct):
        doc = copy.deepcopy(INPUT)
        doc["request"]["path"] = f"/zones/health/records/{index}"  # type: ignore[index]
        doc["resource"]["path"] = f"/records/{index}"  # type: ignore[index]
        docs.append(doc)
    return docs


async def _measure(engine: PolicyEngine, inputs: list[JSONObject]) -> dict[str, object]:
    latencies: list[float] = []
    loop_start = time.perf_counter()
    index = 0
    while time.perf_counter() - loop_start < BUDGET_SECONDS:
        doc = inputs[index % len(inputs)]
        doc["request"]["id"] = f"r{index}"  # type: ignore[index]
        start = time.perf_counter_ns()
        decision = await engine.evaluate(doc)
        latencies.append((time.perf_counter_ns() - start) / 1000)
        if not decision.allow:
            raise SystemExit(f"unexpected deny: {decision.reasons}")
        index += 1
    elapsed = time.perf_counter() - loop_start
    latencies.sort()
    return {
        "decisions": len(latencies),
        "per_second": len(latencies) / elapsed,
        "p50_us": statistics.median(latencies),
        "p99_us": latencies[int(len(latencies) * 0.99) - 1],
    }


async def _run() -> list[dict[str, object]]:
    sys.path.insert(0, str(ROOT))
    from tests.gateway.pdp.opa_standin import OPAStandIn

    rows: list[dict[str, object]] = []
    uncached = _inputs(100_000)  # every request different: the cache never hits
    repeated = _inputs(20)  # a working set of 20 inputs: the cache answers most

    def cached(inner: PolicyEngine) -> PolicyEngine:
        cache = DecisionCache(ttl_seconds=60, registry=CollectorRegistry())
        return CachedEngine(inner, cache)

    embedded = EmbeddedEngine.from_path(POLICIES)
    plans: list[tuple[str, str, Callable[[], PolicyEngine], list[JSONObject]]] = [
        ("embedded (regorus)", "no", lambda: embedded, uncached),
        ("embedded (regorus)", "yes, 20 inputs", lambda: cached(embedded), repeated),
    ]
    server = OPAStandIn(POLICIES)
    await server.start()
    opa = OPAEngine(server.url, timeout_seconds=5)
    plans += [
        ("opa adapter -> stand-in", "no", lambda: opa, uncached),
        ("opa adapter -> stand-in", "yes, 20 inputs", lambda: cached(opa), repeated),
    ]
    try:
        for name, cache, make, inputs in plans:
            row: dict[str, object] = {"engine": name, "cache": cache}
            row.update(await _measure(make(), inputs))
            rows.append(row)
    finally:
        await opa.close()
        await server.stop()
    return rows


def main() -> None:
    rows = asyncio.run(_run())
    report(
        "pdp",
        rows,
        title="Policy decisions (shipped policy, doctor reads a record)",
        notes=[
            f"each row runs for {BUDGET_SECONDS:.0f} s on one event loop, one request at a time",
            "the opa rows go over loopback HTTP to a stand-in that evaluates with regorus",
            "(no OPA binary here): they measure the adapter and HTTP, not OPA itself",
        ],
    )


if __name__ == "__main__":
    main()
