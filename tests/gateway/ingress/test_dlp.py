"""The DLP port over classify/'s real Classifier, and the verdict cache."""

from __future__ import annotations

import json

import pytest

from gateway.ingress.dlp import CachingInspector, Inspection, MaskingInspector, Uninspectable
from tests.gateway.ingress.conftest import INSPECTOR, RESIDENT_ID

RECORD = json.dumps({"name": "张三", "resident_id": RESIDENT_ID}, ensure_ascii=False).encode()


@pytest.mark.parametrize(("body", "ctype", "ceiling", "level", "masked"), [
    (RECORD, "application/json", "L3", "L4", True),
    (RECORD, "application/json", "L4", "L4", False),
    (b'{"status": "ok"}', "application/json", "L1", "L1", False),
    (f"id {RESIDENT_ID}".encode(), "text/plain; charset=utf-8", "L3", "L4", True),
    (f"{{broken {RESIDENT_ID}".encode(), "application/json", "L3", "L4", True),
])
def test_masking_inspector(body: bytes, ctype: str, ceiling: str, level: str,
                           masked: bool) -> None:
    verdict = INSPECTOR.inspect(body, ctype, ceiling)
    assert verdict.level == level
    assert (verdict.masked_body is not None) is masked
    if masked:
        assert verdict.masked_body is not None
        assert RESIDENT_ID.encode() not in verdict.masked_body


def test_residual_level_is_the_masked_body_scanned_again() -> None:
    phones = [f"138{n:08d}" for n in range(10_000_000, 10_000_150)]
    book = json.dumps({"owner": RESIDENT_ID, "phones": phones}).encode()
    verdict = INSPECTOR.inspect(book, "application/json", "L3")
    assert verdict.masked_body is not None and RESIDENT_ID.encode() not in verdict.masked_body
    assert verdict.residual_level == "L4"  # 150 people's phone numbers, by volume
    single = INSPECTOR.inspect(RECORD, "application/json", "L3")
    assert single.residual_level is not None and single.residual_level <= "L3"
    text = INSPECTOR.inspect(f"id {RESIDENT_ID} ".encode() + " ".join(phones).encode(),
                             "text/plain", "L3")
    assert text.masked_body is not None and text.residual_level == "L4"


@pytest.mark.parametrize(("body", "ctype"), [
    (b"\xff\xfe\x00binary", "text/plain"),
    (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    (b"{}", "image/png"),
])
def test_uninspectable(body: bytes, ctype: str) -> None:
    with pytest.raises(Uninspectable):
        INSPECTOR.inspect(body, ctype, "L3")


class Counting:
    def __init__(self) -> None:
        self.calls = 0

    def inspect(self, body: bytes, content_type: str, ceiling: str) -> Inspection:
        self.calls += 1
        return Inspection(level="L1", masked_body=None)


def test_cache_hits_only_for_the_same_body_type_and_ceiling() -> None:
    inner = Counting()
    lookups: list[bool] = []
    cache = CachingInspector(inner, max_entries=2, max_body=100, on_lookup=lookups.append)
    cache.inspect(b"a", "application/json", "L3")
    cache.inspect(b"a", "application/json", "L3")
    cache.inspect(b"a", "application/json", "L4")
    cache.inspect(b"a", "text/plain", "L3")
    assert inner.calls == 3 and lookups == [False, True, False, False]
    cache.inspect(b"a", "application/json", "L3")  # evicted: only two entries kept
    assert inner.calls == 4
    cache.inspect(b"x" * 101, "application/json", "L3")
    cache.inspect(b"x" * 101, "application/json", "L3")
    assert inner.calls == 6  # too big to cache


def test_real_classifier_through_the_cache_is_the_same_verdict() -> None:
    cache = CachingInspector(MaskingInspector(_classifier()))
    first = cache.inspect(RECORD, "application/json", "L3")
    second = cache.inspect(RECORD, "application/json", "L3")
    assert first == second and first.masked_body is not None


def _classifier():  # type: ignore[no-untyped-def]
    from classify import Classifier

    return Classifier.default()
