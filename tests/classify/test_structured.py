"""JSON paths, CSV column decisions, and masking with the structure kept."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest

from classify import Classifier, InputError, load_catalog

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "classify"


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier(load_catalog(), today=lambda: dt.date(2026, 11, 25))


@pytest.fixture
def patients() -> dict[str, object]:
    data = json.loads((VECTORS / "patients.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_json_findings_carry_paths(clf: Classifier, patients: dict[str, object]) -> None:
    result = clf.scan_json(patients)
    by_path = {(f.path, f.type) for f in result.findings}
    assert {("$.records[0].id_card", "cn_resident_id"), ("$.records[0].phone", "cn_mobile"),
            ("$.records[1].phone", "cn_mobile"), ("$.records[0].name", "person_name"),
            ("$.records[0].diagnosis", "medical"), ("$.contact", "email"),
            ("$.records[0].location.lat", "gps_coordinate")} <= by_path
    assert ("$.records[1].diagnosis", "medical") not in by_path  # "无" is no diagnosis
    assert result.level == "L4"
    assert result.columns["$.records[*].id_card"] == "cn_resident_id"


def test_json_offsets_index_the_string_at_the_path(clf: Classifier) -> None:
    result = clf.scan_json({"note": "请联系 13812345678 谢谢"})
    finding = result.findings[0]
    assert finding.path == "$.note"
    assert "请联系 13812345678 谢谢"[finding.start:finding.end] == "13812345678"


@pytest.mark.parametrize(
    ("obj", "path"),
    [({"a b": "13812345678"}, "$['a b']"),
     ({"it's": "13812345678"}, "$['it\\'s']"),
     (["x", ["13812345678"]], "$[1][0]"),
     ({"手机": "13812345678"}, "$['手机']")],
)
def test_json_path_quoting(clf: Classifier, obj: object, path: str) -> None:
    assert [f.path for f in clf.scan_json(obj).findings] == [path]


def test_mask_json_keeps_the_structure_and_leaves_the_input_alone(
        clf: Classifier, patients: dict[str, object]) -> None:
    before = copy.deepcopy(patients)
    masked, result = clf.mask_json(patients, above="L3")
    assert patients == before
    assert isinstance(masked, dict) and masked.keys() == patients.keys()
    records = masked["records"]
    assert isinstance(records, list)
    first, second = records
    assert first["id_card"] == "110105********002X"
    assert first["phone"] == "138****5678"           # raised to L4 by identifier + health
    assert first["diagnosis"] == "[REDACTED]"
    assert first["visits"] == 3                       # untouched number stays a number
    assert second["phone"] == "139****5678"           # a masked number becomes a string
    assert masked["contact"] == "请联系 service@hospital.example.cn"  # L3 is not above L3
    assert result.level == "L4"


def test_mask_json_above_l1_masks_everything_found(clf: Classifier,
                                                   patients: dict[str, object]) -> None:
    masked, _ = clf.mask_json(patients, above="L1")
    assert isinstance(masked, dict)
    assert masked["contact"] == "请联系 s***@hospital.example.cn"


def test_mask_json_nothing_above_l6(clf: Classifier, patients: dict[str, object]) -> None:
    masked, _ = clf.mask_json(patients, above="L6")
    assert masked == patients


def test_csv_columns(clf: Classifier) -> None:
    text = (VECTORS / "people.csv").read_text(encoding="utf-8")
    result = clf.scan_csv(text)
    assert result.columns == {"name": "person_name", "phone": "cn_mobile",
                              "remark": "cn_resident_id"}  # a harmless header hides nothing
    paths = {(f.path, f.type) for f in result.findings}
    assert ("$[0].remark", "cn_resident_id") in paths
    assert ("$[3].note", "cn_mobile") in paths          # a real number still counts …
    assert "note" not in result.columns                 # … but does not label the column
    assert not any(p.endswith(".city") for p, _ in paths)


def test_one_name_like_cell_does_not_make_a_name_column(clf: Classifier) -> None:
    rows = ["code,label"] + [f"{i},产品{i}号" for i in range(9)] + ["9,王强"]
    result = clf.scan_csv("\n".join(rows) + "\n")
    assert "person_name" not in {f.type for f in result.findings}
    assert result.columns == {}


def test_a_name_column_without_a_name_header(clf: Classifier) -> None:
    rows = ["who,n"] + [f"{name},{i}" for i, name in
                        enumerate(["张伟", "李娜", "王强", "刘洋", "陈杰"])]
    result = clf.scan_csv("\n".join(rows) + "\n")
    assert result.columns.get("who") == "person_name"
    assert len([f for f in result.findings if f.type == "person_name"]) == 5


def test_csv_without_header_and_with_tabs(clf: Classifier) -> None:
    result = clf.scan_csv("x\t13812345678\ny\t13912345678\n", header=False)
    assert [f.path for f in result.findings] == ["$[0][1]", "$[1][1]"]


def test_mask_csv_round_trips(clf: Classifier) -> None:
    text = (VECTORS / "people.csv").read_text(encoding="utf-8")
    masked, _ = clf.mask_csv(text, above="L3")
    rows = list(csv.reader(io.StringIO(masked)))
    assert rows[0] == ["name", "phone", "remark", "note", "city"]
    assert rows[1][2] == "110105********002X"
    assert rows[1][1] == "13812345678"   # L3 contact is not above L3
    assert len(rows) == 6


@pytest.mark.parametrize(("bad", "line"), [('a,"b\n', 1), ("a,b\n1,\"x\"y\n", 2)])
def test_malformed_csv_is_an_input_error(clf: Classifier, bad: str, line: int) -> None:
    with pytest.raises(InputError, match=f"^CSV line {line}: "):
        clf.scan_csv(bad)


def test_key_hints_let_weak_values_through(clf: Classifier) -> None:
    assert [f.type for f in clf.scan_json({"imei": "490154203237518"}).findings] == ["imei"]
    assert clf.scan_json({"code": "490154203237518"}).findings == []
    assert [f.type for f in clf.scan_json({"address": "上海市浦东新区世纪大道100号"}
                                          ).findings] == ["address"]
