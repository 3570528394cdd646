"""Masks per type, redaction, keyed pseudonyms, and masking of text."""

from __future__ import annotations

import pytest

from classify import Classifier, MaskingError
from classify.masking import MASKS, Masker

KEY = b"0123456789abcdef-test-key"


@pytest.mark.parametrize(
    ("mask", "value", "expected"),
    [
        ("resident_id", "11010519491231123X", "110105********123X"),
        ("mobile", "13812345678", "138****5678"),
        ("mobile", "+86 13812345678", "+86 138****5678"),
        ("mobile", "138-1234-5678", "138-****-5678"),
        ("landline", "010-62345678", "010-****5678"),
        ("landline", "0755-86543210", "0755-****3210"),
        ("bank_card", "6222021234561234", "6222 **** **** 1234"),
        ("bank_card", "6222 0212 3456 1234", "6222 **** **** 1234"),
        ("bank_card", "6222021234567891234", "6222 **** **** *** 1234"),
        ("email", "example@example.com", "e***@example.com"),
        ("plate", "京A12345", "京A***45"),
        ("ipv4", "192.168.10.23", "192.168.*.*"),
        ("ipv6", "2001:db8::1", "2001:db8:*"),
        ("mac", "aa:bb:cc:dd:ee:ff", "aa:bb:cc:**:**:**"),
        ("imei", "490154203237518", "49015420*******"),
        ("gps", "39.904211,116.407395", "39.9*,116.4*"),
        ("name", "欧阳娜娜", "欧***"),
        ("address", "北京市朝阳区建国路88号", "北京市朝阳区****"),
        ("document", "E12345678", "E******78"),
        ("document", "EA1234567", "EA*****67"),
        ("redact", "anything", "[REDACTED]"),
    ],
)
def test_masks(mask: str, value: str, expected: str) -> None:
    assert MASKS[mask](value) == expected


def test_pseudonyms_are_stable_per_key_and_type() -> None:
    one, same, other = Masker("pseudonym", KEY), Masker("pseudonym", KEY), \
        Masker("pseudonym", KEY[::-1])
    a = one.replace("cn_mobile", "mobile", "13812345678")
    assert a == same.replace("cn_mobile", "mobile", "13812345678")
    assert a != one.replace("cn_mobile", "mobile", "13812345679")
    assert a != other.replace("cn_mobile", "mobile", "13812345678")
    assert a != one.replace("imei", "imei", "13812345678")
    assert a.startswith("cn_mobile_") and "13812345678" not in a


@pytest.mark.parametrize(
    ("kind", "spellings"),
    [
        ("cn_mobile", ["13812345678", "138-1234-5678", "138 1234 5678", "+86 13812345678",
                       "+8613812345678"]),
        ("cn_landline", ["010-62345678", "(010)62345678", "010 62345678", "01062345678"]),
        ("cn_resident_id", ["11010519491231002X", "11010519491231002x"]),
        ("bank_card", ["6222021234567894", "6222 0212 3456 7894", "6222-0212-3456-7894"]),
        ("email", ["Alice.W@Example.COM", "alice.w@example.com"]),
        ("mac_address", ["3C-22-FB-12-34-56", "3c:22:fb:12:34:56", "3c22.fb12.3456"]),
        ("ipv6", ["2001:DB8::1", "2001:0db8:0000::0001"]),
        ("cn_license_plate", ["京A·12345", "京A12345", "京a-12345"]),
    ],
)
def test_pseudonym_does_not_depend_on_formatting(kind: str, spellings: list[str]) -> None:
    masker = Masker("pseudonym", KEY)
    assert len({masker.replace(kind, "redact", value) for value in spellings}) == 1


def test_pseudonym_formatting_rule_keeps_different_values_apart() -> None:
    masker = Masker("pseudonym", KEY)
    assert masker.replace("cn_mobile", "mobile", "138-1234-5678") != \
        masker.replace("cn_mobile", "mobile", "138-1234-5679")
    assert masker.replace("person_name", "name", "张伟") != \
        masker.replace("person_name", "name", "张 伟")  # names are taken as written


def test_masked_documents_join_across_formats() -> None:
    clf = Classifier.default()
    rows = [{"phone": "13812345678"}, {"phone": "138-1234-5678"}, {"phone": "+86 13812345678"}]
    masked, _ = clf.mask_json(rows, above="L1", mode="pseudonym", key=KEY)
    assert isinstance(masked, list)
    assert len({row["phone"] for row in masked}) == 1
    assert masked[0]["phone"].startswith("cn_mobile_")


@pytest.mark.parametrize(
    ("mode", "key", "message"),
    [("pseudonym", None, "HMAC key"), ("pseudonym", b"short", "HMAC key"),
     ("scramble", None, "mode")],
)
def test_masker_refuses_unsafe_arguments(mode: str, key: bytes | None, message: str) -> None:
    with pytest.raises(MaskingError, match=message):
        Masker(mode, key)


def test_mask_text_above_a_level() -> None:
    clf = Classifier.default()
    text = "姓名：张伟，手机13812345678，身份证11010519491231002X"
    masked, result = clf.mask_text(text, above="L3")
    assert masked == "姓名：张伟，手机13812345678，身份证110105********002X"
    assert result.level == "L4"
    redacted, _ = clf.mask_text(text, above="L1", mode="redact")
    assert redacted == "姓名：[PERSON_NAME]，手机[CN_MOBILE]，身份证[CN_RESIDENT_ID]"


def test_pseudonymised_records_can_still_be_joined() -> None:
    clf = Classifier.default()
    rows = [{"phone": "13812345678", "n": 1}, {"phone": "13812345678", "n": 2}]
    masked, _ = clf.mask_json(rows, above="L1", mode="pseudonym", key=KEY)
    assert isinstance(masked, list)
    assert masked[0]["phone"] == masked[1]["phone"] != "13812345678"


def test_mask_needs_a_level() -> None:
    with pytest.raises(MaskingError, match="above"):
        Classifier.default().mask_text("x", above="high")
