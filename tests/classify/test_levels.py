"""Levels: highest wins, combinations escalate, minors, and volume."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from classify import Classifier, load_catalog
from classify.levels import LEVELS, highest, rank
from classify.validators import ric_check_digit

TODAY = dt.date(2026, 11, 25)


def _id(born: str, seq: str = "001") -> str:
    first17 = "110105" + born + seq
    return first17 + ric_check_digit(first17)


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier(load_catalog(), today=lambda: TODAY)


def test_level_order() -> None:
    assert [rank(level) for level in LEVELS] == [0, 1, 2, 3, 4, 5]
    assert highest("L2", "L4", "L3") == "L4"
    assert highest() == "L1"
    with pytest.raises(ValueError, match="not a level"):
        rank("L7")


@pytest.mark.parametrize(
    ("text", "level", "categories"),
    [
        ("今天开会。", "L1", []),
        ("登录IP 10.1.2.3", "L2", ["DEV.ID"]),
        ("邮箱 a@example.com", "L3", ["PI.CONTACT"]),
        ("诊断：高血压", "L3", ["PI.HEALTH"]),                      # a disease alone
        ("姓名：张伟", "L2", ["PI.BASIC"]),                          # a name alone
        ("姓名：张伟，邮箱 a@example.com", "L3", ["PI.BASIC", "PI.CONTACT"]),
        ("患者张伟，诊断：高血压", "L4", ["PI.BASIC", "PI.HEALTH"]),  # identifier + health
        ("手机13812345678，诊断：抑郁症", "L4", ["PI.CONTACT", "PI.HEALTH"]),
        (f"身份证{_id('19900101')}", "L4", ["PI.IDDOC"]),
        ("姓名：张伟，坐标 39.904211,116.407395", "L4", ["PI.BASIC", "PI.TRACK"]),
    ],
)
def test_record_levels(clf: Classifier, text: str, level: str, categories: list[str]) -> None:
    result = clf.scan_text(text)
    assert (result.level, result.categories) == (level, categories)


def test_combination_raises_the_findings_that_took_part(clf: Classifier) -> None:
    result = clf.scan_text("患者张伟，诊断：高血压")
    assert {f.type: f.level for f in result.findings} == {"person_name": "L4",
                                                         "medical": "L4"}


@pytest.mark.parametrize(
    ("born", "minor"),
    [("20150601", True), ("20121126", True), ("20121125", False), ("19900101", False)],
)
def test_minor_from_birth_date(clf: Classifier, born: str, minor: bool) -> None:
    result = clf.scan_text(f"学生身份证号{_id(born)}")
    assert ("PI.MINOR" in result.categories) is minor
    assert result.level == "L4"


def test_records_in_json_are_judged_apart(clf: Classifier) -> None:
    result = clf.scan_json({"rows": [{"name": "张伟", "note": "ok"},
                                     {"diagnosis": "高血压"}]})
    levels = {f.type: f.level for f in result.findings}
    assert levels == {"person_name": "L2", "medical": "L3"}  # not the same record
    joined = clf.scan_json({"rows": [{"name": "张伟", "diagnosis": "高血压"}]})
    assert joined.level == "L4"


def test_volume_escalates(tmp_path: Path) -> None:
    catalog = tmp_path / "volume.yaml"
    catalog.write_text("rules:\n  volume:\n    subject_types: [cn_mobile]\n    thresholds:\n"
                       "      - {min_subjects: 5, level: L4}\n"
                       "      - {min_subjects: 8, level: L5}\n", encoding="utf-8")
    clf = Classifier.from_catalog(catalog)
    phones = [f"1381234{n:04d}" for n in range(8)]
    assert clf.scan_text(" ".join(phones[:4])).level == "L3"
    assert clf.scan_text(" ".join(phones[:5])).level == "L4"
    assert clf.scan_text(" ".join(phones[:4] * 3)).level == "L3"  # the same people again
    assert clf.scan_text(" ".join(phones)).level == "L5"
