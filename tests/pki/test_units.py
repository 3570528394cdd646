"""Durations and serial numbers as operators type them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pki.errors import InvalidArgument
from pki.units import format_duration, format_serial, parse_duration, parse_serial


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("30m", 1800), ("24h", 86400), ("7d", 604800), ("1d12h", 129600),
    ("0s", 0), (" 2H ", 7200), ("1h30m15s", 5415),
])
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)
    assert parse_duration(format_duration(timedelta(seconds=seconds))) == \
        timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "24", "h", "1.5h", "-1h", "1w", "1h 30m", "10hh",
                                  "1234567890s"])
def test_bad_duration(text: str) -> None:
    with pytest.raises(InvalidArgument, match="--lifetime"):
        parse_duration(text, "--lifetime")


@pytest.mark.parametrize(("text", "value"), [
    ("4fa2", 0x4FA2), ("0x4FA2", 0x4FA2), ("4F:A2", 0x4FA2), ("1", 1),
    ("ff" * 20, int("ff" * 20, 16)),
])
def test_parse_serial(text: str, value: int) -> None:
    assert parse_serial(text) == value
    assert parse_serial(format_serial(value)) == value


@pytest.mark.parametrize("text", ["", "0", "0x", "xyz", "12-34", "ff" * 20 + "f", "-1"])
def test_bad_serial(text: str) -> None:
    with pytest.raises(InvalidArgument, match="serial"):
        parse_serial(text)
