"""policies/data/zones.json grants only identities our PKI can issue and verify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pki.spiffe import parse_spiffe_id

ZONES = json.loads((Path(__file__).resolve().parents[2] / "policies" / "data" /
                    "zones.json").read_text(encoding="utf-8"))
SERVICES = sorted({(name, sid) for name, zone in ZONES.items()
                   for grant in zone.get("grants", []) for sid in grant.get("services", [])})


def test_some_zone_grants_a_service() -> None:
    assert SERVICES


@pytest.mark.parametrize(("zone", "spiffe_id"), SERVICES)
def test_service_grants_are_issuable_spiffe_ids(zone: str, spiffe_id: str) -> None:
    # a grant naming an ID pki/ never issues (…/ns/x/sa/y) can never match anyone
    parsed = parse_spiffe_id(spiffe_id, trust_domain="city.example")
    assert parsed.kind == "svc", spiffe_id
