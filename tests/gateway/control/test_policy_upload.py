"""The upload guards of gateway/control/policy_upload.py, as pure functions."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import pytest
import regorus

from gateway.control.errors import UploadRefused, UploadTooLarge
from gateway.control.policy_upload import (
    MAX_NESTING_COST,
    check_name,
    gunzip_bounded,
    nesting_cost,
)

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("archive", "limit", "out"), [
    (gzip.compress(b"abc"), 3, b"abc"),
    (gzip.compress(b"ab") + gzip.compress(b"c"), 3, b"abc"),  # members, as gzip writes
    (gzip.compress(b"abc") + b"\0" * 512, 3, b"abc"),  # zero padding after the stream
])
def test_gunzip_bounded(archive: bytes, limit: int, out: bytes) -> None:
    assert gunzip_bounded(archive, limit) == out


@pytest.mark.parametrize(("archive", "error", "code"), [
    (gzip.compress(b"abcd"), UploadTooLarge, "too-large"),
    (gzip.compress(bytes(10 * 2**20)), UploadTooLarge, "too-large"),
    (gzip.compress(b"abc")[:-4], UploadRefused, "bad-bundle"),
    (b"", UploadRefused, "bad-bundle"),
    (b"plain text", UploadRefused, "bad-bundle"),
    (gzip.compress(b"abc") + b"junk", UploadRefused, "bad-bundle"),
])
def test_gunzip_bounded_refuses(archive: bytes, error: type[UploadRefused], code: str) -> None:
    with pytest.raises(error) as raised:
        gunzip_bounded(archive, 3)
    assert raised.value.code == code


@pytest.mark.parametrize(("name", "code"), [
    ("a\udcff.rego", "bad-file-name"),
    ("../a.rego", "unsafe-path"),
    ("/a.rego", "unsafe-path"),
    ("a\\b.rego", "unsafe-path"),
    ("a/./b.rego", "unsafe-path"),
    ("a\x00.rego", "unsafe-path"),
    (".x.rego", "bad-file-name"),
    ("x.txt", "bad-file-name"),
    ("x" * 300 + ".rego", "bad-file-name"),
])
def test_check_name_refuses(name: str, code: str) -> None:
    with pytest.raises(UploadRefused) as raised:
        check_name(name)
    assert raised.value.code == code


@pytest.mark.parametrize("name", ["authz.rego", "data/zones.json", ".manifest", "区/数据.json"])
def test_check_name_accepts(name: str) -> None:
    check_name(name)


@pytest.mark.parametrize(("text", "cost"), [
    ('x := [[1]]', 6),
    ('x := [1, [2], {"a": [3]}]', 18),  # 2 * (1 + 2 + 2 * (1 + 2))
    ('x := count([[1]])', 6),  # a call passes on what it holds
    ('x if { y := [1] }', 2),  # a rule body starts afresh
    ('x if { every a in [1] { b := [[a]] } }', 8),
    ('x := "[[[[[[[[[["  # [[[[[[[[', 0),  # strings and comments are skipped
    ('x := `[[[[[[`', 0),
])
def test_nesting_cost(text: str, cost: int) -> None:
    assert nesting_cost(f"package p\n\n{text}\n") == cost


def test_the_bound_admits_the_shipped_policies_not_deep_literals() -> None:
    shipped = sum(nesting_cost(p.read_text(encoding="utf-8"))
                  for p in (ROOT / "policies").rglob("*.rego"))
    assert 0 < shipped < MAX_NESTING_COST // 20
    chain = [nesting_cost("x := " + "[" * d + "1" + "]" * d) for d in range(1, 40)]
    # 17 levels (about 6 s for regorus) pass, 18 (12 s, doubling on) do not
    assert max(d for d, cost in enumerate(chain, start=1) if cost <= MAX_NESTING_COST) == 17
    engine = regorus.Engine()
    started = time.monotonic()
    engine.add_policy("deep.rego", "package deep\n\nx := " + "[" * 10 + "1" + "]" * 10)
    assert time.monotonic() - started < 2  # ten levels: tens of milliseconds
