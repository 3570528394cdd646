"""Fixtures of the policy decision point tests."""

from __future__ import annotations

import copy
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway.pdp.port import JSONObject
from tests.gateway.pdp.opa_standin import OPAStandIn

ROOT = Path(__file__).resolve().parents[3]
POLICIES = ROOT / "policies"
VECTORS = ROOT / "tests" / "vectors" / "pdp"

DOCTOR: JSONObject = {
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


def make_input(**patch: object) -> JSONObject:
    """DOCTOR with top-level sections merged one level deep."""
    doc = copy.deepcopy(DOCTOR)
    for section, values in patch.items():
        target = doc.setdefault(section, {})
        if isinstance(target, dict) and isinstance(values, dict):
            target.update(values)
        else:
            doc[section] = values  # type: ignore[assignment]
    return doc


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    """A private copy of the shipped policies/ (tests may edit it)."""
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    return target


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def opa_standin() -> AsyncIterator[Callable[..., object]]:
    """Start stand-in OPA servers on loopback: `await opa_standin(bundle=…, mode=…)`."""
    servers: list[OPAStandIn] = []

    async def start(bundle: Path = POLICIES, **options: object) -> OPAStandIn:
        server = OPAStandIn(bundle, **options)  # type: ignore[arg-type]
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()
