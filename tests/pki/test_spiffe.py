"""SPIFFE IDs: the standard's syntax and zonegate's two path shapes."""

from __future__ import annotations

import pytest

from pki.errors import BadSpiffeId, InvalidArgument, WrongTrustDomain
from pki.spiffe import SpiffeId, parse_spiffe_id

VALID = {
    "spiffe://city.example/zone/health/device/cam-7": ("city.example", "health", "device",
                                                        "cam-7"),
    "spiffe://city.example/zone/transport/svc/bus_api.v2": ("city.example", "transport", "svc",
                                                            "bus_api.v2"),
    "spiffe://td-1_x/zone/Z9/device/A.b-c_d": ("td-1_x", "Z9", "device", "A.b-c_d"),
}

INVALID = {
    "http-scheme": "https://city.example/zone/health/device/cam-7",
    "upper-scheme": "SPIFFE://city.example/zone/health/device/cam-7",
    "upper-domain": "spiffe://City.example/zone/health/device/cam-7",
    "port": "spiffe://city.example:443/zone/health/device/cam-7",
    "userinfo": "spiffe://user@city.example/zone/health/device/cam-7",
    "query": "spiffe://city.example/zone/health/device/cam-7?x=1",
    "fragment": "spiffe://city.example/zone/health/device/cam-7#f",
    "percent": "spiffe://city.example/zone/health/device/cam%2D7",
    "trailing-slash": "spiffe://city.example/zone/health/device/cam-7/",
    "empty-segment": "spiffe://city.example/zone//device/cam-7",
    "dot-segment": "spiffe://city.example/zone/./device/cam-7",
    "dotdot-segment": "spiffe://city.example/zone/health/device/..",
    "no-path": "spiffe://city.example",
    "root-path": "spiffe://city.example/",
    "other-kind": "spiffe://city.example/zone/health/user/alice",
    "too-deep": "spiffe://city.example/zone/health/device/cam-7/extra",
    "no-zone-prefix": "spiffe://city.example/health/device/cam-7",
    "empty-domain": "spiffe:///zone/health/device/cam-7",
    "unicode": "spiffe://city.example/zone/health/device/摄像头",
    "space": "spiffe://city.example/zone/health/device/cam 7",
    "too-long": "spiffe://city.example/zone/health/device/" + "a" * 2100,
    "segment-64": "spiffe://city.example/zone/health/device/" + "a" * 64,
}


@pytest.mark.parametrize("uri", VALID)
def test_valid_ids_parse_and_round_trip(uri: str) -> None:
    sid = parse_spiffe_id(uri, trust_domain=VALID[uri][0])
    assert (sid.trust_domain, sid.zone, sid.kind, sid.name) == VALID[uri]
    assert sid.uri == uri == str(sid)
    assert SpiffeId.build(*VALID[uri]) == sid


@pytest.mark.parametrize("case", INVALID)
def test_invalid_ids_are_refused(case: str) -> None:
    with pytest.raises(BadSpiffeId) as caught:
        parse_spiffe_id(INVALID[case])
    assert caught.value.code == "bad-spiffe-id"


def test_trust_domain_must_match() -> None:
    with pytest.raises(WrongTrustDomain, match=r"other\.example"):
        parse_spiffe_id("spiffe://other.example/zone/a/device/b", trust_domain="city.example")


@pytest.mark.parametrize(("parts", "match"), [
    (("city.example", "a/b", "device", "x"), "zone"),
    (("city.example", "a", "device", ""), "device"),
    (("city.example", "a", "user", "x"), "kind"),
    (("City", "a", "device", "x"), "trust domain"),
    (("city.example", "-a", "svc", "x"), "zone"),
])
def test_build_names_the_bad_part(parts: tuple[str, str, str, str], match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        SpiffeId.build(*parts)
