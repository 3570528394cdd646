"""The catalog: shipped defaults, user extension without code, and refusal of bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from classify import CatalogError, Classifier, load_catalog
from classify.catalog import BUILTIN_TYPES

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "classify"
CONTRACT_TYPES = {
    "cn_resident_id", "cn_mobile", "cn_landline", "bank_card", "cn_uscc", "cn_passport",
    "hk_macau_permit", "cn_license_plate", "email", "ipv4", "ipv6", "mac_address", "imei",
    "gps_coordinate", "person_name", "address", "credential", "medical"}
CONTRACT_CATEGORIES = {
    "PI.BASIC", "PI.CONTACT", "PI.IDDOC", "PI.FIN", "PI.CRED", "PI.BIO", "PI.HEALTH",
    "PI.TRACK", "PI.MINOR", "PI.SPECIAL", "DEV.ID", "VEH.PLATE", "ORG.PUBLIC", "ORG.INTERNAL",
    "GOV.OPS", "CITY.CRIT"}


def test_shipped_catalog_covers_the_contract() -> None:
    catalog = load_catalog()
    assert set(catalog.detectors) == CONTRACT_TYPES == set(BUILTIN_TYPES)
    assert set(catalog.categories) == CONTRACT_CATEGORIES
    assert {d.category for d in catalog.detectors.values()} <= CONTRACT_CATEGORIES


def test_a_site_catalog_adds_a_detector_and_changes_a_level() -> None:
    clf = Classifier.from_catalog(VECTORS / "site_catalog.yaml")
    result = clf.scan_text("工号EMP123456，邮箱 a@example.com，热线13800138000")
    found = {f.type: (f.level, f.masked) for f in result.findings}
    assert found == {"employee_no": ("L3", "E******56"),
                     "email": ("L4", "a***@example.com")}   # the hotline is allow-listed
    assert result.categories == ["PI.CONTACT", "ORG.HR"]
    # what the site file does not mention still comes from the shipped catalog
    assert clf.scan_text("手机13812345678").findings[0].type == "cn_mobile"


def test_extends_none_starts_from_nothing(tmp_path: Path) -> None:
    path = tmp_path / "only.yaml"
    path.write_text("extends: none\ncategories:\n  ORG.X: {level: L2}\ndetectors:\n"
                    "  ticket:\n    category: ORG.X\n    pattern: 'TKT-\\d{4}'\n",
                    encoding="utf-8")
    result = Classifier.from_catalog(path).scan_text("TKT-1234 手机13812345678")
    assert [f.type for f in result.findings] == ["ticket"]


def test_a_detector_can_be_switched_off(tmp_path: Path) -> None:
    path = tmp_path / "off.yaml"
    path.write_text("detectors:\n  ipv4:\n    category: DEV.ID\n    enabled: false\n",
                    encoding="utf-8")
    assert Classifier.from_catalog(path).scan_text("IP 10.1.2.3").findings == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad_level.yaml", "bad_level.yaml: detectors.cn_mobile.level: must be one of"),
        ("bad_key.yaml", "bad_key.yaml: detectors.cn_mobile.colour: unknown key"),
        ("bad_syntax.yaml", r"bad_syntax.yaml: not valid YAML \(line \d+\)"),
        ("bad_pattern.yaml", "bad_pattern.yaml: detectors.thing.pattern: cannot compile"),
        ("bad_nopattern.yaml", "bad_nopattern.yaml: detectors.widget_id.pattern: "),
        ("bad_rule.yaml", r"bad_rule.yaml: rules.combinations\[0\].groups\[1\]: 'NO.SUCH'"),
        ("bad_toplevel.yaml", "bad_toplevel.yaml: the catalog must be a YAML mapping"),
        ("missing.yaml", "missing.yaml: cannot read catalog"),
    ],
)
def test_bad_catalogs_name_file_and_field(name: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        Classifier.from_catalog(VECTORS / name)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("min_score: 2\n", "min_score: must be a number from 0.0 to 1.0"),
        ("context: {window: -1}\n", "context.window"),
        ("allow_patterns: ['(']\n", r"allow_patterns\[0\]: bad regex"),
        ("categories:\n  lower: {level: L2}\n", "categories.lower: a category name"),
        ("detectors:\n  email: {category: NO.SUCH}\n", "detectors.email.category: unknown"),
        ("detectors:\n  email: {category: PI.CONTACT, mask: blur}\n", "unknown mask 'blur'"),
        ("detectors:\n  email: {category: PI.CONTACT, pattern: 'x'}\n",
         "only a new detector may set a pattern"),
        ("extends: other\n", "extends: must be 'builtin' or 'none'"),
        ("version: 2\n", "version: only version 1"),
        ("rules:\n  volume:\n    thresholds: [{min_subjects: 0, level: L4}]\n",
         r"thresholds\[0\].min_subjects"),
    ],
)
def test_bad_fields(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(CatalogError, match=message):
        load_catalog(path)
