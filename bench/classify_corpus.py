"""A labelled evaluation corpus for classify, generated with a fixed seed (never committed).

Each document is Chinese filler prose (Faker zh_CN) with templated sensitive values whose
spans are known, and hard negatives that must not be reported: 18-digit order numbers, IDs
with a wrong check digit, timestamps, phone-like numbers with unassigned prefixes, card-like
numbers failing Luhn, version strings, waybill numbers of a mobile number's shape.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from faker import Faker

from classify import validators
from classify.levels import highest

# The shipped catalog's base levels and the combination rules, restated here so the gold
# labels do not depend on the code under test.
BASE_LEVEL = {
    "cn_resident_id": "L4", "cn_mobile": "L3", "cn_landline": "L3", "bank_card": "L4",
    "cn_uscc": "L1", "cn_passport": "L4", "hk_macau_permit": "L4", "cn_license_plate": "L3",
    "email": "L3", "ipv4": "L2", "ipv6": "L2", "mac_address": "L3", "imei": "L3",
    "gps_coordinate": "L4", "credential": "L4", "medical": "L3", "person_name": "L2",
    "address": "L3",
}
IDENTIFIERS = {"cn_resident_id", "cn_passport", "hk_macau_permit", "bank_card", "cn_mobile",
               "person_name"}


@dataclass
class Document:
    text: str = ""
    spans: list[tuple[str, int, int]] = field(default_factory=list)
    minor: bool = False

    def add(self, piece: str, kind: str | None = None) -> None:
        if kind is not None:
            self.spans.append((kind, len(self.text), len(self.text) + len(piece)))
        self.text += piece

    def level(self) -> str:
        kinds = {k for k, _, _ in self.spans}
        levels = ["L1", *(BASE_LEVEL[k] for k in kinds)]
        if "person_name" in kinds and kinds & {"cn_resident_id", "cn_passport", "bank_card",
                                               "hk_macau_permit", "cn_mobile", "email",
                                               "address", "gps_coordinate"}:
            levels.append("L3")
        if "medical" in kinds and kinds & IDENTIFIERS:
            levels.append("L4")
        if self.minor:
            levels.append("L4")
        return highest(*levels)


class Generator:
    """Values and documents from one seed."""

    def __init__(self, seed: int = 20261125) -> None:
        self.rng = random.Random(seed)
        self.fake = Faker("zh_CN")
        self.fake.seed_instance(seed)
        self.prefixes = sorted(validators.MOBILE_PREFIXES)

    def digits(self, n: int) -> str:
        return "".join(self.rng.choice(string.digits) for _ in range(n))

    # -- valid values --------------------------------------------------------------------
    def resident_id(self) -> tuple[str, bool]:
        roll = self.rng.random()
        if roll < 0.1:
            return self.fake.ssn(min_age=3, max_age=13), True
        if roll < 0.18:  # HK/Macau/Taiwan residence permit or foreign permanent residence
            head = self.rng.choice(["810000", "820000", "830000",
                                    "9" + self.rng.choice(["11", "31", "44"]) + "156"])
            born = f"{self.rng.randint(1950, 2000)}{self.rng.randint(1, 12):02d}" \
                   f"{self.rng.randint(1, 28):02d}"
            first17 = head + born + self.digits(3)
            return first17 + validators.ric_check_digit(first17), False
        return self.fake.ssn(min_age=18, max_age=80), False

    def mobile(self) -> str:
        number = str(self.rng.choice(self.prefixes)) + self.digits(8)
        style = self.rng.random()
        if style < 0.1:
            return f"+86 {number}"
        if style < 0.2:
            return f"{number[:3]}-{number[3:7]}-{number[7:]}"
        return number

    def landline(self) -> str:
        area = self.rng.choice(["010", "021", "022", "020", "0755", "0571", "0731", "0898"])
        return f"{area}-{self.rng.randint(2, 8)}{self.digits(7)}"

    def card(self) -> str:
        body = self.rng.choice(["622202", "621700", "622848", "436742", "625907"]) + \
            self.digits(self.rng.choice([9, 12]))
        for check in string.digits:
            if validators.luhn(body + check):
                number = body + check
                break
        if self.rng.random() < 0.3 and len(number) == 16:
            return " ".join(number[i:i + 4] for i in range(0, 16, 4))
        return number

    def uscc(self) -> str:
        alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        while True:
            body = "91" + self.rng.choice(["110108", "310115", "440300"]) + \
                "".join(self.rng.choice(alphabet) for _ in range(9))
            for check in alphabet:
                if validators.uscc(body + check):
                    return body + check

    def passport(self) -> str:
        if self.rng.random() < 0.5:
            return "E" + self.digits(8)
        return "E" + self.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") + self.digits(7)

    def permit(self) -> str:
        return "C" + self.digits(8)

    def plate(self) -> str:
        if self.rng.random() < 0.3:
            return self.rng.choice("京沪粤浙苏川") + self.rng.choice("ABCDE") + "D" + \
                self.rng.choice("ABCDEFGH") + self.digits(4)
        # Faker also emits issuing letter I, which GA 36 never issues: such a string is not a
        # plate, so it is re-lettered rather than labelled as one.
        plate = self.fake.license_plate().replace("-", self.rng.choice(["", "·", ""]))
        return plate[0] + ("J" if plate[1] == "I" else plate[1]) + plate[2:]

    def imei(self) -> str:
        body = "35" + self.digits(12)
        return next(body + d for d in string.digits if validators.luhn(body + d))

    def gps(self) -> str:
        return f"{self.rng.uniform(18, 53):.6f},{self.rng.uniform(74, 134):.6f}"

    def secret(self) -> str:
        return "".join(self.rng.choice(string.ascii_letters + string.digits) for _ in range(12))

    def jwt(self) -> str:
        part = lambda n: "".join(self.rng.choice(string.ascii_letters + string.digits + "_-")  # noqa: E731
                                 for _ in range(n))
        return f"eyJhbGciOiJIUzI1NiJ9.eyJ{part(40)}.{part(43)}"

    def address(self) -> str:
        return self.fake.address().rsplit(" ", 1)[0]

    # -- hard negatives ------------------------------------------------------------------
    def negative(self) -> str:
        kind = self.rng.randrange(8)
        if kind == 0:
            while True:
                number = "20" + self.digits(16)
                if validators.resident_id(number, __import__("datetime").date.today()) is None:
                    return f"订单号{number}已发货。"
        if kind == 1:
            good, _ = self.resident_id()
            bad = good[:17] + next(c for c in "0123456789X" if c != good[17])
            return f"录入的证件号{bad}校验失败。"
        if kind == 2:
            return f"时间戳 {self.rng.randint(1600000000000, 1800000000000)}，" \
                   f"日志时间 2026{self.digits(10)}。"
        if kind == 3:
            prefix = self.rng.choice(["140", "141", "144", "154", "160", "161", "164", "169",
                                      "179", "194", "100", "120"])
            return f"来电号码{prefix}{self.digits(8)}为空号。"
        if kind == 4:
            body = "6222" + self.digits(12)
            if validators.luhn(body):
                body = body[:-1] + str((int(body[-1]) + 1) % 10)
            return f"交易参考号{body}，请留存。"
        if kind == 5:
            version = ".".join(str(self.rng.randint(0, n)) for n in (9, 20, 99, 999))
            return f"固件版本 {version} 已发布，v2.{self.digits(1)}.3。"
        if kind == 6:
            # a waybill number of a mobile number's shape, labelled as one
            return f"运单号{self.rng.choice(self.prefixes)}{self.digits(8)}已签收。"
        return f"批次 E{self.digits(4)}，型号 G{self.digits(3)}，工单 {self.digits(12)}。"

    # -- documents -----------------------------------------------------------------------
    def document(self) -> Document:
        doc = Document()
        doc.add(self.fake.sentence())
        for _ in range(self.rng.randint(1, 3)):
            self.rng.choice(self.templates)(self, doc)
            doc.add(self.fake.sentence())
        if self.rng.random() < 0.5:
            doc.add(self.negative())
        doc.add(self.fake.sentence())
        return doc

    def corpus(self, n: int) -> list[Document]:
        return [self.document() for _ in range(n)]

    templates: ClassVar[list[Callable[[Generator, Document], None]]] = []


def _template(fn: Callable[[Generator, Document], None]) -> Callable[[Generator, Document], None]:
    Generator.templates.append(fn)
    return fn


@_template
def _person(g: Generator, d: Document) -> None:
    number, minor = g.resident_id()
    d.minor = d.minor or minor
    d.add(g.rng.choice(["客户姓名：", "姓名", "联系人："]))
    d.add(g.fake.name(), "person_name")
    d.add(g.rng.choice(["，身份证号", "，公民身份号码：", " 证件号码 "]))
    d.add(number, "cn_resident_id")
    d.add("，手机")
    d.add(g.mobile(), "cn_mobile")
    d.add("。")


@_template
def _bare_ids(g: Generator, d: Document) -> None:
    number, minor = g.resident_id()
    d.minor = d.minor or minor
    d.add("登记信息 ")
    d.add(number, "cn_resident_id")
    d.add(" / ")
    d.add(g.mobile(), "cn_mobile")
    d.add("；")


@_template
def _bank(g: Generator, d: Document) -> None:
    d.add(g.rng.choice(["退款将打入银行卡", "持卡人的卡号为", "收款账户 "]))
    d.add(g.card(), "bank_card")
    d.add("，如有疑问请致电")
    d.add(g.landline(), "cn_landline")
    d.add("。")


@_template
def _contact(g: Generator, d: Document) -> None:
    d.add("请将材料发送至")
    d.add(g.fake.email(), "email")
    d.add("，或联系 ")
    d.add(g.mobile(), "cn_mobile")
    d.add("。")


@_template
def _order_note(g: Generator, d: Document) -> None:
    # an exclusion word (订单) about something else in the sentence: the number is still one
    d.add(g.rng.choice(["订单已发货，请联系", "订单 42 已退款，来电 ", "order shipped, call "]))
    d.add(g.mobile(), "cn_mobile")
    d.add("。")


@_template
def _network(g: Generator, d: Document) -> None:
    d.add("登录IP ")
    d.add(g.fake.ipv4(), "ipv4")
    d.add("，设备MAC ")
    d.add(g.fake.mac_address(), "mac_address")
    d.add("，IMEI:")
    d.add(g.imei(), "imei")
    if g.rng.random() < 0.5:
        d.add("，IPv6 ")
        d.add(g.fake.ipv6(), "ipv6")
    d.add("。")


@_template
def _travel(g: Generator, d: Document) -> None:
    d.add("旅客护照号码")
    d.add(g.passport(), "cn_passport")
    d.add("，往来港澳通行证 ")
    d.add(g.permit(), "hk_macau_permit")
    d.add("，车牌号")
    d.add(g.plate(), "cn_license_plate")
    d.add("。")


@_template
def _company(g: Generator, d: Document) -> None:
    d.add(g.fake.company() + "（统一社会信用代码 ")
    d.add(g.uscc(), "cn_uscc")
    d.add("）位于")
    d.add(g.address(), "address")
    d.add("。")


@_template
def _health(g: Generator, d: Document) -> None:
    d.add("患者")
    d.add(g.fake.name(), "person_name")
    d.add("，诊断：")
    d.add(g.rng.choice(["高血压", "2型糖尿病", "冠心病", "抑郁症", "乙肝", "肺癌"]), "medical")
    d.add("，住址：")
    d.add(g.address(), "address")
    d.add("。")


@_template
def _track(g: Generator, d: Document) -> None:
    d.add("车辆轨迹坐标 ")
    d.add(g.gps(), "gps_coordinate")
    d.add("，车牌")
    d.add(g.plate(), "cn_license_plate")
    d.add("。")


@_template
def _secrets(g: Generator, d: Document) -> None:
    d.add("配置 password=")
    d.add(g.secret(), "credential")
    d.add(" Authorization: Bearer ")
    d.add(g.jwt(), "credential")
    d.add("\n")
