"""The upload guards of gateway/control/policy_upload.py, as pure functions."""

from __future__ import annotations

import gzip

import pytest

from gateway.control.errors import UploadRefused, UploadTooLarge
from gateway.control.policy_upload import check_name, gunzip_bounded


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
