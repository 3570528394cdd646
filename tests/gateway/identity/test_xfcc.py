"""The XFCC parser on fixed Envoy-format vectors, good and malformed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.identity.xfcc import MAX_XFCC_BYTES, XFCCError, parse_xfcc

VECTORS = json.loads(
    (Path(__file__).parents[2] / "vectors" / "identity" / "xfcc.json").read_text())
PEM = "-----BEGIN%20CERTIFICATE-----%0AMIIB%0A-----END%20CERTIFICATE-----%0A"


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=[v["name"] for v in VECTORS["valid"]])
def test_valid(vector: dict[str, object]) -> None:
    elements = parse_xfcc(str(vector["header"]))
    assert len(elements) == vector["elements"]
    first = elements[0]
    expect = vector["first"]
    assert isinstance(expect, dict)
    assert list(first.uris) == expect.get("uris", [])
    assert first.hash == expect.get("hash")
    assert first.subject == expect.get("subject")
    assert list(first.by) == expect.get("by", [])
    assert (first.cert_pem is not None) == expect.get("cert", False)


@pytest.mark.parametrize("vector", VECTORS["malformed"],
                         ids=[v["name"] for v in VECTORS["malformed"]])
def test_malformed(vector: dict[str, str]) -> None:
    with pytest.raises(XFCCError, match=vector["error"]):
        parse_xfcc(vector["header"])


def test_cert_is_url_decoded() -> None:
    (element,) = parse_xfcc(f'Cert="{PEM}";URI=spiffe://city.example/zone/a/device/b')
    assert element.cert_pem == b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_oversized_header() -> None:
    with pytest.raises(XFCCError, match="longer than"):
        parse_xfcc("URI=" + "a" * MAX_XFCC_BYTES)
