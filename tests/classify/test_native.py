"""The mypyc build of classify's hot modules: when it runs, and that it answers like the
pure-Python sources it was compiled from."""

from __future__ import annotations

import importlib.machinery
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import classify
from classify import _native

ROOT = Path(__file__).resolve().parents[2]
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def _fake_build(folder: Path) -> None:
    for name in _native.COMPILED:
        (folder / f"{name}.py").write_text(f"NAME = {name!r}\n", encoding="utf-8")
        (folder / f"{name}{SUFFIX}").write_bytes(b"")
    (folder / _native.SOURCES_FILE.name).write_text(_native.source_digests(folder),
                                                    encoding="utf-8")


def test_a_current_build_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZONEGATE_NO_NATIVE", raising=False)
    _fake_build(tmp_path)
    assert _native._why_not_native(tmp_path) is None


def test_an_edited_source_is_never_shadowed_by_its_old_build(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZONEGATE_NO_NATIVE", raising=False)
    _fake_build(tmp_path)
    with (tmp_path / "rules.py").open("a", encoding="utf-8") as out:
        out.write("# edited\n")
    reason = _native._why_not_native(tmp_path)
    assert reason is not None and "sources changed since the build: rules" in reason


@pytest.mark.parametrize("damage", ["no-digests", "bad-digests", "one-missing", "none"])
def test_an_incomplete_build_falls_back_to_the_sources(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    monkeypatch.delenv("ZONEGATE_NO_NATIVE", raising=False)
    _fake_build(tmp_path)
    digests = tmp_path / _native.SOURCES_FILE.name
    if damage == "no-digests":
        digests.unlink()
    elif damage == "bad-digests":
        digests.write_text("[not an object", encoding="utf-8")
    elif damage == "one-missing":
        (tmp_path / f"masking{SUFFIX}").unlink()
    else:
        for name in _native.COMPILED:
            (tmp_path / f"{name}{SUFFIX}").unlink()
    reason = _native._why_not_native(tmp_path)
    assert reason is not None and "make native" in reason
    if damage == "one-missing":
        assert "masking" in reason


def test_the_switch_turns_the_build_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_build(tmp_path)
    monkeypatch.setenv("ZONEGATE_NO_NATIVE", "1")
    assert _native._why_not_native(tmp_path) == "ZONEGATE_NO_NATIVE is set"


def test_the_build_runs_where_it_is_required() -> None:
    """CI (.ci/run) requires the compiled modules: a silent fallback would bench and ship
    the slow path."""
    import classify.scanner

    if not os.environ.get("ZONEGATE_REQUIRE_NATIVE") and \
            not classify.NATIVE_MODE.startswith("native"):
        pytest.skip(f"classify runs {classify.NATIVE_MODE}")
    assert classify.NATIVE_MODE == "native (mypyc)"
    assert classify.scanner.__file__ is not None
    assert classify.scanner.__file__.endswith(SUFFIX)


# What both builds classify: the generated corpus, JSON and CSV, and the gateway's masking.
_PROBE = r"""
import json, sys
from bench.classify_corpus import Generator
import classify
from classify import Classifier, load_catalog
import datetime as dt
clf = Classifier(load_catalog(), today=lambda: dt.date(2026, 11, 25))
gen = Generator()
docs = gen.corpus(400)
out = {"mode": classify.NATIVE_MODE, "text": [clf.scan_text(d.text).to_json() for d in docs],
       "masked": [clf.mask_text(d.text, above="L2")[0] for d in docs[:100]]}
record = {"patient": {"name": "张三", "id_card": "11010519491231002X", "phone": "13800138000",
          "note": docs[0].text}, "rows": [{"ip": "10.0.0.%d" % i} for i in range(20)]}
masked, result = clf.mask_json(record, above="L1")
out["json"] = [masked, result.to_json()]
csv_text = "姓名,身份证号,电话\n" + "\n".join(
    "%s,%s,%s" % (gen.fake.name(), gen.resident_id()[0], gen.mobile()) for _ in range(30))
out["csv"] = clf.scan_csv(csv_text).to_json()
print(json.dumps(out, ensure_ascii=False, sort_keys=True))
"""


def _probe(**env: str) -> dict[str, object]:
    run = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env={**os.environ, **env}, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    result: dict[str, object] = json.loads(run.stdout)
    return result


@pytest.mark.slow
def test_the_compiled_and_the_pure_modules_give_the_same_answers() -> None:
    if not classify.NATIVE_MODE.startswith("native") and not os.environ.get(
            "ZONEGATE_REQUIRE_NATIVE"):
        pytest.skip(f"classify runs {classify.NATIVE_MODE}: nothing to compare")
    native = _probe()
    pure = _probe(ZONEGATE_NO_NATIVE="1")
    assert native.pop("mode") == "native (mypyc)"
    assert str(pure.pop("mode")).startswith("pure Python")
    assert native["text"] and any(doc["findings"] for doc in native["text"])
    assert native == pure

