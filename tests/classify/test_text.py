"""Free-text detection: every finding type, context keywords, and hard negatives."""

from __future__ import annotations

import datetime as dt

import pytest

from classify import Classifier, load_catalog

ID = "11010519491231002X"


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier(load_catalog(), today=lambda: dt.date(2026, 11, 25))


# (text, type, the exact value that must be found)
POSITIVES = [
    (f"身份证号{ID}，请核对", "cn_resident_id", ID),
    (f"ID: {ID.lower()}", "cn_resident_id", ID.lower()),
    ("证件 810000199001010019 已登记", "cn_resident_id", "810000199001010019"),
    ("手机13812345678联系", "cn_mobile", "13812345678"),
    ("call +86 13812345678 now", "cn_mobile", "+86 13812345678"),
    ("电话 138-1234-5678。", "cn_mobile", "138-1234-5678"),
    ("座机：010-62345678", "cn_landline", "010-62345678"),
    ("传真(0571)87654321", "cn_landline", "(0571)87654321"),
    ("卡号 6222 0212 3456 7894", "bank_card", "6222 0212 3456 7894"),
    ("退款到6222021234567894。", "bank_card", "6222021234567894"),
    ("统一社会信用代码91350100M000100Y43", "cn_uscc", "91350100M000100Y43"),
    ("护照号码E12345678", "cn_passport", "E12345678"),
    ("passport EA1234567", "cn_passport", "EA1234567"),
    ("往来港澳通行证C12345678", "hk_macau_permit", "C12345678"),
    ("车牌京A·12345违停", "cn_license_plate", "京A·12345"),
    ("新能源车粤BD12345", "cn_license_plate", "粤BD12345"),
    ("mail alice.w+tag@example.com.cn ok", "email", "alice.w+tag@example.com.cn"),
    ("登录IP 192.168.10.23", "ipv4", "192.168.10.23"),
    ("addr 2001:db8::8a2e:370:7334 up", "ipv6", "2001:db8::8a2e:370:7334"),
    ("MAC 3C-22-FB-12-34-56", "mac_address", "3C-22-FB-12-34-56"),
    ("IMEI:490154203237518", "imei", "490154203237518"),
    ("坐标 39.904211,116.407395", "gps_coordinate", "39.904211,116.407395"),
    ("纬度39.904211，经度116.407395", "gps_coordinate", "39.904211，经度116.407395"),
    ("db password=S3cr3t!pass", "credential", "S3cr3t!pass"),
    ("密码：hunter22x", "credential", "hunter22x"),
    ("key AKIAIOSFODNN7EXAMPLE", "credential", "AKIAIOSFODNN7EXAMPLE"),
    ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345", "credential",
     "abcdefghijklmnopqrstuvwxyz012345"),
    ("t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFU",
     "credential",
     "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFU"),
    ("诊断：2型糖尿病，建议复查", "medical", "2型糖尿病"),
    ("既往有高血压病史", "medical", "高血压"),
    ("HIV test positive", "medical", "HIV"),
    ("姓名：欧阳娜娜，性别女", "person_name", "欧阳娜娜"),
    ("联系人王小明手机号", "person_name", "王小明"),
    ("请张伟先生到前台", "person_name", "张伟"),
    ("住址：北京市朝阳区建国路88号院3号楼", "address", "北京市朝阳区建国路88号院3号楼"),
    ("寄到浙江省杭州市西湖区文三路90号，谢谢", "address", "浙江省杭州市西湖区文三路90号"),
]


@pytest.mark.parametrize(("text", "kind", "value"), POSITIVES)
def test_finds(clf: Classifier, text: str, kind: str, value: str) -> None:
    found = [(f.type, text[f.start:f.end]) for f in clf.scan_text(text).findings]
    assert (kind, value) in found


# (text, type that must NOT be reported)
NEGATIVES = [
    ("身份证号110105194912310021", "cn_resident_id"),      # wrong check digit
    ("订单号202311251234567890已发货", "cn_resident_id"),   # 20 is no province
    ("编号110105203012310011", "cn_resident_id"),           # born in the future
    ("来电号码15412345678为空号", "cn_mobile"),              # 154 is unassigned
    ("物联网卡14012345678", "cn_mobile"),                    # 140 is IoT-only
    ("时间戳 1700000000123", "cn_mobile"),
    ("交易参考号6222021234567895，请留存", "bank_card"),     # fails Luhn, no card keyword
    ("固件版本 3.1.4.15 已发布", "ipv4"),                    # version, by keyword
    ("see 1.2.3.4.5 for details", "ipv4"),                  # part of a longer dotted run
    ("会议时间 12:30:45 开始", "ipv6"),
    ("批次 E20231125 入库", "cn_passport"),                  # E + a date
    ("型号G1234已停产", "cn_passport"),
    ("工单 123456789012345", "imei"),                        # 15 digits, no IMEI keyword
    ("password=******", "credential"),                      # a placeholder
    ("password=${DB_PASSWORD}", "credential"),
    ("新MacBook到货", "cn_license_plate"),
    ("北京是中国的首都", "address"),                          # a place is not an address
    ("张家界风景很好", "person_name"),                         # a surname alone is no name
    ("version 1.2.3", "ipv4"),
    ("订单号 91350100M000100Y43", "cn_resident_id"),
    # shapes that turn up in source code and data files
    ("aws_secret_access_key: Optional[str] = None", "credential"),
    ("password = _unquote_user(parts.password)", "credential"),
    ("password=self.password_field", "credential"),
    ("for i in values[1::2]", "ipv6"),
    ("matrix([[0.69646919, 0.28613933, 0.22685145]])", "gps_coordinate"),
    ("points 39.904211, 116.407395, 40.1", "gps_coordinate"),
    ("compact('EM0000000')", "cn_passport"),
    ("This mainly aids the user", "medical"),
    ("F4gKGy+Hiv{7RQ", "medical"),
    ("listen on 0.0.0.0 and 127.0.0.1", "ipv4"),
]


@pytest.mark.parametrize(("text", "kind"), NEGATIVES)
def test_does_not_find(clf: Classifier, text: str, kind: str) -> None:
    assert kind not in {f.type for f in clf.scan_text(text).findings}


# An exclusion word that labels the value (订单号：…) lowers it below the threshold.
LABELLED = [f"订单号{ID}", f"订单号：{ID}", f"订单编号为 {ID}", f"order no. {ID}",
            f"Tracking #{ID}", f"流水号: {ID}", "运单号 6222021234567894", "订单 13812345678",
            "快递单号 13812345678 已签收", "serial no 138 1234 5678", "订单号 010-62345678",
            # a keyword further back does not outweigh the label next to the value
            "联系电话见上。运单号13812345678已签收", "银行卡绑定后，订单号6222021234567894",
            # an ID with a wrong check digit that happens to pass Luhn is no card
            "录入的证件号621023195906095090校验失败"]
# The same words elsewhere in the window do not hide a value that passed its checksum, or a
# mobile number with an assigned prefix: a customer-service note about an order still
# carries the caller's number.
UNLABELLED = [
    (f"order 42 shipped to {ID}", "cn_resident_id", ID),
    (f"In order to verify: {ID}", "cn_resident_id", ID),
    (f"请按订单要求填写 {ID}", "cn_resident_id", ID),
    ("order 42 shipped to 110105199003071239", "cn_resident_id", "110105199003071239"),
    ("订单 42 已退款至 6222021234567894", "bank_card", "6222021234567894"),
    ("order 42 shipped to 13812345678", "cn_mobile", "13812345678"),
    ("订单已发货，请联系13812345678", "cn_mobile", "13812345678"),
    ("订单已发货，收件人 +86 13812345678", "cn_mobile", "+86 13812345678"),
    ("order 42 shipped, call 010-62345678", "cn_landline", "010-62345678"),
    ("订单已发货，请拨打(0591)87654321", "cn_landline", "(0591)87654321"),
    # also a valid (L1) credit code: the lowered ID must still win the overlap
    ("In order to verify: 44150019871115306X", "cn_resident_id", "44150019871115306X"),
]


@pytest.mark.parametrize("text", LABELLED)
def test_exclusion_word_labelling_the_value_suppresses_it(clf: Classifier, text: str) -> None:
    assert clf.scan_text(text).findings == []


@pytest.mark.parametrize(("text", "kind", "value"), UNLABELLED)
def test_exclusion_word_elsewhere_does_not_hide_a_verified_identifier(
        clf: Classifier, text: str, kind: str, value: str) -> None:
    result = clf.scan_text(text)
    assert result.level == clf.catalog.detectors[kind].level
    assert [(f.type, text[f.start:f.end]) for f in result.findings] == [(kind, value)]
    assert result.findings[0].score >= clf.catalog.min_score
    # the gateway's response masking relies on it
    masked, _ = clf.mask_json({"note": text}, above="L1")
    assert isinstance(masked, dict) and value not in masked["note"]


def test_exclusion_word_still_lowers_the_score(clf: Classifier) -> None:
    bare = clf.scan_text(f"登记 {ID}").findings[0].score
    assert clf.scan_text(f"order 42 shipped to {ID}").findings[0].score < bare


@pytest.mark.parametrize("text", [
    "订单 42 退款 6222021234567895",        # fails Luhn: nothing to trust
    "order 42 shipped 01062345678",         # a landline without its dash: a bare digit run
    "订单 42 银行卡号6222021234567895",     # fails Luhn: the penalty outweighs the keyword
    "订单 42 已发货 202311251234567890",    # fails the ID checks
])
def test_unverified_numbers_near_an_exclusion_word_stay_hidden(clf: Classifier,
                                                               text: str) -> None:
    assert clf.scan_text(text).findings == []


def test_card_failing_luhn_is_reported_only_next_to_a_card_keyword(clf: Classifier) -> None:
    near = clf.scan_text("银行卡号6222021234567895")
    assert [f.type for f in near.findings] == ["bank_card"]
    assert near.findings[0].score < clf.scan_text("银行卡号6222021234567894").findings[0].score


def test_weak_shapes_need_a_keyword(clf: Classifier) -> None:
    assert clf.scan_text("编码 490154203237518").findings == []
    assert [f.type for f in clf.scan_text("手机串号 490154203237518").findings] == ["imei"]


def test_offsets_are_code_points_after_wide_characters(clf: Classifier) -> None:
    text = "😀中文émoji 手机13812345678"
    finding = clf.scan_text(text).findings[0]
    assert text[finding.start:finding.end] == "13812345678"


def test_result_has_the_contract_shape(clf: Classifier) -> None:
    out = clf.scan_text(f"身份证号{ID}").to_json()
    assert out == {
        "level": "L4", "categories": ["PI.IDDOC"],
        "findings": [{"type": "cn_resident_id", "category": "PI.IDDOC", "level": "L4",
                      "start": 4, "end": 22, "path": None, "score": 1.0,
                      "masked": "110105********002X"}]}


def test_text_without_findings_is_the_default_level(clf: Classifier) -> None:
    result = clf.scan_text("今天天气很好，我们去公园散步。")
    assert (result.level, result.categories, result.findings) == ("L1", [], [])


def test_repr_does_not_leak_the_value(clf: Classifier) -> None:
    finding = clf.scan_text(f"身份证号{ID}").findings[0]
    assert ID not in repr(finding) and finding.value == ID


def test_chunks_give_the_offsets_of_the_whole_text(clf: Classifier) -> None:
    pieces = ["第一行没有\n", "手机13812345678\n", f"身份证号{ID}\n"]
    whole = clf.scan_text("".join(pieces))
    chunked = clf.scan_chunks(pieces)
    assert [(f.type, f.start, f.end) for f in chunked.findings] == \
        [(f.type, f.start, f.end) for f in whole.findings]
    assert chunked.level == whole.level == "L4"
