"""The shortcuts taken for speed give the same answers as the plain way of computing them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import json
import pickle
import random
from collections.abc import Iterator, Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import uscc as stdnum_uscc

from classify import Classifier, load_catalog, validators
from classify.model import Finding
from classify.rules import select
from classify.scanner import Candidate, _offset_map
from classify.structured import Cell, decide_columns, json_cells


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier(load_catalog(), today=lambda: dt.date(2026, 11, 25))


def _greedy(cands: list[Candidate], min_score: float) -> list[Candidate]:
    """The overlap rule without shortcuts: rank everything, take what does not overlap."""
    ranked = sorted((c for c in cands if c.score >= min_score),
                    key=lambda c: (-c.score, c.start - c.end, c.start))
    kept: list[Candidate] = []
    for cand in ranked:
        if all(cand.end <= k.start or k.end <= cand.start for k in kept):
            kept.append(cand)
    return sorted(kept, key=lambda c: c.start)


@pytest.mark.parametrize("seed", range(40))
def test_select_settles_each_run_of_overlaps_like_the_global_rule(seed: int) -> None:
    rng = random.Random(seed)
    cands = []
    for index in range(rng.randint(0, 40)):
        start = rng.randrange(200)
        cands.append(Candidate(f"t{index % 3}", start, start + rng.randint(1, 25),
                               rng.choice([0.3, 0.5, 0.6, 0.7, 0.9, 1.0]), "v"))
    expected = [(c.type, c.start, c.end) for c in _greedy(cands, 0.5)]
    assert [(c.type, c.start, c.end) for c in select(cands, 0.5)] == expected


def test_select_keeps_disjoint_spans_in_order() -> None:
    cands = [Candidate("b", 10, 12, 0.6, "v"), Candidate("a", 0, 5, 0.9, "v"),
             Candidate("c", 5, 9, 0.4, "v")]
    assert [c.type for c in select(cands, 0.5)] == ["a", "b"]


@pytest.mark.parametrize(
    "text",
    [
        "手机 13812345678，邮箱 li.lei@example.com",
        "😀😀 手机 13812345678 😀 身份证 11010519491231002X",  # 4-byte characters first
        "ascii only: call 13812345678 or mail li.lei@example.com",
        "é" * 50 + " 13812345678 " + "中" * 50 + " 11010519491231002X",
    ],
)
def test_offsets_are_code_points_whatever_the_utf8_width(clf: Classifier, text: str) -> None:
    found = clf.scan_text(text).findings
    assert found
    for finding in found:
        assert text[finding.start:finding.end] == finding.value


def test_offsets_across_chunks_index_the_joined_text(clf: Classifier) -> None:
    pieces = ["😀 手机 13812345678\n", "身份证 11010519491231002X\n", "无\n",
              "邮箱 li.lei@example.com\n"]
    joined = "".join(pieces)
    found = clf.scan_chunks(pieces).findings
    assert {f.type for f in found} >= {"cn_mobile", "cn_resident_id", "email"}
    for finding in found:
        assert joined[finding.start:finding.end] == finding.value


def test_keyword_context_does_not_cross_a_json_value(clf: Classifier) -> None:
    # "卡号" raises a Luhn-failing card; as the tail of the previous value it must not.
    failing = "6222021234567891"
    assert not validators.luhn(failing)
    labelled = clf.scan_text(f"卡号 {failing}").findings
    assert [f.type for f in labelled] == ["bank_card"]
    apart = clf.scan_json({"a": "卡号", "b": failing}).findings
    assert [f for f in apart if f.path == "$.b"] == []


class _Record(Mapping[str, object]):
    """A read-only mapping that is not a dict."""

    def __init__(self, data: dict[str, object]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> object:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def test_json_cells_in_document_order_with_paths() -> None:
    obj = {"a": "x", "b": [1, {"c": "y", "d": (2.5, True, None)}], "e": _Record({"f": "z"}),
           "odd key": "w"}
    cells = json_cells(obj)
    assert [(c.path, c.column, c.header, c.record, c.value) for c in cells] == [
        ("$.a", "$.a", "a", "$", "x"),
        ("$.b[0]", "$.b[*]", "b", "$.b[0]", "1"),  # the first array level makes records
        ("$.b[1].c", "$.b[*].c", "c", "$.b[1]", "y"),
        ("$.b[1].d[0]", "$.b[*].d[*]", "d", "$.b[1]", "2.5"),
        ("$.e.f", "$.e.f", "f", "$", "z"),
        ("$['odd key']", "$['odd key']", "odd key", "$", "w"),
    ]
    top = json_cells([{"p": "1"}, {"p": "2"}])
    assert [(c.path, c.record) for c in top] == [("$[0].p", "$[0]"), ("$[1].p", "$[1]")]
    assert [c.value for c in json_cells("just a string")] == ["just a string"]
    assert json_cells(None) == []


def test_json_cells_walks_deep_documents_without_recursion() -> None:
    obj: object = "13812345678"
    for depth in range(5000):
        obj = {"k": obj} if depth % 2 else [obj]
    cells = json_cells(obj)
    assert len(cells) == 1
    assert cells[0].value == "13812345678"
    assert cells[0].path.count("[0]") == 2500


def _cell(column: str, value: str) -> Cell:
    return Cell(f"$[0].{column}", f"$[*].{column}", column, "$[0]", value)


def test_a_tie_between_types_goes_to_the_stronger_evidence() -> None:
    catalog = load_catalog()
    cells = [_cell("id_card", "x"), _cell("id_card", "y")]
    both = [[Candidate("bank_card", 0, 1, 0.4, "x"), Candidate("cn_resident_id", 0, 1, 0.95, "x")],
            [Candidate("cn_resident_id", 0, 1, 0.95, "y"), Candidate("bank_card", 0, 1, 0.4, "y")]]
    hints = {"$[*].id_card": frozenset({"bank_card", "cn_resident_id"})}
    assert decide_columns(cells, both, hints, catalog) == {"$[*].id_card": "cn_resident_id"}
    # equal evidence: the first type by name, whatever order the candidates came in
    even = [[Candidate("cn_uscc", 0, 1, 0.9, "x"), Candidate("bank_card", 0, 1, 0.9, "x")],
            [Candidate("bank_card", 0, 1, 0.9, "y"), Candidate("cn_uscc", 0, 1, 0.9, "y")]]
    hints = {"$[*].id_card": frozenset({"bank_card", "cn_uscc"})}
    assert decide_columns(cells, even, hints, catalog) == {"$[*].id_card": "bank_card"}


def test_a_card_shaped_resident_id_under_an_id_card_key_is_a_resident_id(
        clf: Classifier) -> None:
    number = "62010219900101123" + validators.ric_check_digit("62010219900101123")
    assert validators.card_bin(number) and not validators.luhn(number)  # card-shaped
    result = clf.scan_json({"id_card": number})
    assert [(f.type, f.path) for f in result.findings] == [("cn_resident_id", "$.id_card")]
    assert result.columns == {"$.id_card": "cn_resident_id"}
    masked, _ = clf.mask_json({"id_card": number})
    assert masked == {"id_card": "620102********1233"}


def test_combinations_stay_within_a_record(clf: Classifier) -> None:
    apart = clf.scan_json({"records": [{"name": "张伟"}, {"phone": "13812345678"}]})
    together = clf.scan_json({"records": [{"name": "张伟", "phone": "13812345678"}]})
    base = clf.catalog.detectors["person_name"].level
    assert {f.level for f in apart.findings if f.type == "person_name"} == {base}
    assert {f.level for f in together.findings if f.type == "person_name"} == {"L3"}


def test_luhn_and_check_digits_refuse_what_is_not_digits() -> None:
    assert validators.luhn("4111111111111111")
    assert not validators.luhn("4111 1111 1111 1111")
    assert not validators.luhn("４１１１１１１１１１１１１１１１")  # full-width digits
    with pytest.raises(ValueError, match="17 ASCII digits"):
        validators.ric_check_digit("1101051949123100")
    with pytest.raises(ValueError, match="17 ASCII digits"):
        validators.ric_check_digit("1101051949123100X")
    full_width = "１１０１０５１９４９１２３１００２X"
    assert validators.resident_id(full_width, dt.date(2026, 11, 25)) is None


_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _uscc_check(body: str) -> str:
    """GB 32100 check character written out: weights 3**i mod 31 over the alphabet values."""
    total = sum(_USCC_ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(body))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def test_uscc_check_agrees_with_the_written_out_formula_and_stdnum() -> None:
    rng = random.Random(11)
    provinces = sorted(validators.PROVINCES)
    for _ in range(400):
        head = rng.choice(["91", "92", "93", "11", "12", "51", "52", "Y1"])
        body = (head + f"{rng.choice(provinces):02d}{rng.randrange(10000):04d}"
                + "".join(rng.choice(_USCC_ALPHABET) for _ in range(9)))
        good = body + _uscc_check(body)
        bad = body + rng.choice([c for c in _USCC_ALPHABET if c != good[-1]])
        assert validators.uscc(good), good
        assert validators.uscc(good.lower()), good
        assert not validators.uscc(bad), bad
        if head == "91":  # enterprises: stdnum checks the same way
            assert stdnum_uscc.is_valid(good) and not stdnum_uscc.is_valid(bad), good


def test_context_window_is_counted_in_code_points(clf: Classifier) -> None:
    # A keyword `window` characters before the value is in; one more is out, though in
    # UTF-8 bytes both are about three times as far.
    failing = "6222021234567891"
    window = clf.catalog.window
    near = "卡号" + "中" * window + failing
    far = "卡号" + "中" * (window + 1) + failing
    assert [f.type for f in clf.scan_text(near).findings] == ["bank_card"]
    assert clf.scan_text(far).findings == []



def _finding(value: str = "13812345678") -> Finding:
    return Finding("cn_mobile", "PI.CONTACT", "L3", 1, 12, None, 0.85, "138****5678", value)


def test_finding_is_immutable_and_keeps_its_value_out_of_repr_and_equality() -> None:
    finding = _finding()
    with pytest.raises(dataclasses.FrozenInstanceError):
        finding.score = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del finding.value
    with pytest.raises(AttributeError):
        finding.extra = 1  # type: ignore[attr-defined]
    assert type(finding) is Finding and finding.value == "13812345678"
    assert "13812345678" not in repr(finding)
    assert finding == _finding("another") and hash(finding) == hash(_finding("another"))
    copied = pickle.loads(pickle.dumps(finding))
    assert copied == finding and copied.value == finding.value
    with pytest.raises(TypeError):
        json.dumps(finding)  # never serialised (with its value) by accident


@pytest.mark.parametrize("text", ["", "ascii only 13812345678", "手机 13812345678 ok",
                                  "😀é 110101199003074477 \u4e2d", "a\u00e9\u4e2d\U0001f600" * 40])
def test_offset_map_counts_code_points(text: str) -> None:
    data = text.encode("utf-8")
    cuts = sorted({len(text[:i].encode("utf-8")) for i in range(0, len(text) + 1, 3)})
    spans = {(0, cut): cut for cut in cuts}
    assert _offset_map(data, spans) == {cut: len(data[:cut].decode("utf-8")) for cut in cuts}


@pytest.mark.parametrize("seed", range(5))
def test_resident_id_check_agrees_with_stdnum(seed: int) -> None:
    rng = random.Random(seed)
    today = dt.date(2026, 11, 25)
    for _ in range(400):
        number = "".join(rng.choice("0123456789") for _ in range(17))
        number = rng.choice(["11", "44", "81", "99", number[:2]]) + number[2:]
        number += rng.choice([validators.ric_check_digit(number), rng.choice("0123456789X")])
        born = validators.ric_birth_date(number)
        expected = (born is not None and born <= today and born.year >= 1900
                    and (int(number[:2]) in validators.PROVINCES or number[:6] in
                         ("810000", "820000", "830000") or (number[0] == "9" and int(
                             number[1:3]) in validators.PROVINCES))
                    and validators.ric_check_digit(number[:17]) == number[17])
        assert (validators.resident_id(number, today) is not None) == expected, number


def test_the_default_date_is_today() -> None:
    clf = Classifier(load_catalog())
    assert clf._today() == dt.date.today()


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="0123456789abcdefABCDEF:.%/ gx", max_size=45))
def test_ipv6_address_accepts_what_the_standard_library_accepts(text: str) -> None:
    assert validators.ipv6_address(text) is _stdlib_ipv6(text)


@pytest.mark.parametrize("text", [
    "::", "::1", "1::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
    "1:2:3:4:5:6:7:8:9", "1::2::3", ":1:2:3:4:5:6:7", "1:2:3:4:5:6:7:", "12345::",
    "1:2:3:4:5:6:7::8", "::ffff:1.2.3.4", "fe80::1%eth0", "1::2:3:4:5:6:7", "",
])
def test_ipv6_address_edge_cases_match_the_standard_library(text: str) -> None:
    assert validators.ipv6_address(text) is _stdlib_ipv6(text)


def _stdlib_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("depth", [1500, 200_000])
def test_mask_json_refuses_values_nested_past_the_limit_in_either_build(clf: Classifier,
                                                                        depth: int) -> None:
    """Compiled code has no recursion limit: without the bound a deep enough value would
    overflow the C stack (a crash); both builds raise RecursionError instead, which the
    gateway's DLP turns into an uninspectable body (refused above the ceiling)."""
    obj: object = "13812345678"
    for _ in range(depth):
        obj = [obj]
    if depth > 10_000:  # json_cells' paths grow with depth: mask only the rebuild
        from classify.classifier import _rebuild
        from classify.masking import Masker
        with pytest.raises(RecursionError):
            _rebuild(obj, "$", {}, frozenset("$" + "[0]" * i for i in range(2000)),
                     Masker("mask", None), clf.catalog)
        return
    with pytest.raises(RecursionError):
        clf.mask_json(obj, above="L1")


def test_mask_json_still_masks_reasonably_deep_values(clf: Classifier) -> None:
    obj: object = {"phone": "13812345678"}
    for _ in range(200):
        obj = [obj]
    masked, result = clf.mask_json(obj, above="L1")
    for _ in range(200):
        masked = masked[0]  # type: ignore[index]
    assert masked == {"phone": "138****5678"} and result.level == "L3"
