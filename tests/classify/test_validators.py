"""Checksums and format rules, cross-checked against python-stdnum where it has them."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from stdnum import luhn as stdnum_luhn
from stdnum.cn import ric as stdnum_ric
from stdnum.cn import uscc as stdnum_uscc

from classify import validators

TODAY = dt.date(2026, 11, 25)


def _ric(first17: str) -> str:
    return first17 + validators.ric_check_digit(first17)


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("11010519491231002X", True),                  # GB 11643 worked example
        ("11010519491231002x", True),                  # lower-case check character
        ("110105194912310021", False),                 # wrong check digit
        (_ric("81000019900101001"), True),             # Hong Kong residence permit
        (_ric("82000019900101001"), True),             # Macau residence permit
        (_ric("83000019900101001"), True),             # Taiwan residence permit
        (_ric("91115619900101001"), True),             # 2023 foreign permanent residence card
        (_ric("98815619900101001"), False),            # 9 + no province code
        (_ric("20010119900101001"), False),            # 20 is not a province code
        (_ric("11010519900230001"), False),            # 30 February
        (_ric("11010520301231001"), False),            # born in the future
        (_ric("11010518891231001"), False),            # before 1900
        ("1101051949123100", False),                   # too short
        ("11010519491231002Y", False),                 # not a check character
    ],
)
def test_resident_id(number: str, valid: bool) -> None:
    assert (validators.resident_id(number, TODAY) is not None) is valid


def test_resident_id_agrees_with_stdnum_on_mainland_numbers() -> None:
    # stdnum also checks that the county existed on the birth date; we check the province
    # only, because an ID issued after a county was created carries the new code even for
    # people born before it. Compared here on births after 1990, where both rules agree.
    rng = random.Random(7)
    for _ in range(300):
        area = rng.choice(["110105", "110108", "120101"])
        born = dt.date(1990, 1, 1) + dt.timedelta(days=rng.randrange(12000))
        first17 = f"{area}{born:%Y%m%d}{rng.randrange(1000):03d}"
        assert validators.ric_check_digit(first17) == stdnum_ric.calc_check_digit(first17 + "0")
        for check in "0123456789X":
            number = first17 + check
            assert (validators.resident_id(number, TODAY) is not None) == \
                stdnum_ric.is_valid(number), number


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        ("91350100M000100Y43", True),
        ("91110108MA01ABCD10", False),
        ("9135010" + "0M000100Y43", True),
        ("O1350100M000100Y43", False),   # O is not in the alphabet
        ("9135010M000100Y43", False),     # 17 characters
    ],
)
def test_uscc(code: str, valid: bool) -> None:
    assert validators.uscc(code) is valid
    if len(code) == 18 and "O" not in code:
        assert stdnum_uscc.is_valid(code) is valid


def test_luhn_agrees_with_stdnum() -> None:
    rng = random.Random(3)
    for _ in range(500):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(13, 19)))
        assert validators.luhn(digits) == stdnum_luhn.is_valid(digits), digits


@pytest.mark.parametrize(
    ("number", "valid"),
    [("13812345678", True), ("+86 13812345678", True), ("8613812345678", True),
     ("19912345678", True), ("16212345678", True), ("17412345678", True),
     ("15412345678", False), ("14012345678", False), ("16012345678", False),
     ("19412345678", False), ("17912345678", False), ("12012345678", False),
     ("1381234567", False)],
)
def test_mobile(number: str, valid: bool) -> None:
    assert validators.mobile(number) is valid


@pytest.mark.parametrize(
    ("number", "valid"),
    [("010-62345678", True), ("0755-86543210", True), ("021-5123456", True),
     ("(0571)87654321", True), ("010-12345678", False), ("011-62345678", False),
     ("0755-0123456", False), ("010-623456", False)],
)
def test_landline(number: str, valid: bool) -> None:
    assert validators.landline(number) is valid


@pytest.mark.parametrize(
    ("digits", "valid"),
    [("6222021234567890", True), ("6222021234567890123", True), ("4367421234567890", True),
     ("5212345678901234", True), ("371234567890123", True), ("7222021234567890", False),
     ("622202123456", False), ("52123456789012345", False)],
)
def test_card_bin(digits: str, valid: bool) -> None:
    assert validators.card_bin(digits) is valid


@pytest.mark.parametrize(
    ("plate", "valid"),
    [("京A12345", True), ("粤B·D12345", True), ("沪AD12345", True), ("苏E12345F", True),
     ("京AAB123", True), ("京AABC12", False), ("沪I12345", False), ("京A1234", False)],
)
def test_licence_plate(plate: str, valid: bool) -> None:
    assert validators.licence_plate(plate) is valid


@pytest.mark.parametrize(
    ("text", "valid"),
    [("2001:db8::1", True), ("fe80::1ff:fe23:4567:890a", True),
     ("2001:0db8:0000:0000:0000:ff00:0042:8329", True), ("12:30:45", False),
     ("aa:bb:cc:dd:ee:ff", False), ("1:2", False)],
)
def test_ipv6(text: str, valid: bool) -> None:
    assert validators.ipv6(text) is valid


@pytest.mark.parametrize(
    ("lat", "lon", "valid"),
    [("39.904211", "116.407395", True), ("39.9", "116.4", False),
     ("91.000000", "116.407395", False), ("39.904211", "181.000000", False),
     ("0.0000", "0.0000", False)],
)
def test_coordinates(lat: str, lon: str, valid: bool) -> None:
    assert validators.coordinates(lat, lon) is valid
