"""`zonegate classify` run as a real process, plus in-process checks of streaming."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import classify_cmd, main

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "classify"
ZONEGATE = [sys.executable, "-c", "import sys; from gateway.cli import main; sys.exit(main())"]
ID = "11010519491231002X"


def run(*args: str, stdin: str | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ZONEGATE, *args], input=stdin, capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})}, check=False)


def test_json_output_follows_contract_4(tmp_path: Path) -> None:
    doc = tmp_path / "a.txt"
    doc.write_text(f"身份证号{ID}\n", encoding="utf-8")
    proc = run("classify", "--format", "json", str(doc))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["level"] == "L4" and out["categories"] == ["PI.IDDOC"]
    assert out["findings"][0] == {"type": "cn_resident_id", "category": "PI.IDDOC",
                                  "level": "L4", "start": 4, "end": 22, "path": None,
                                  "score": 1.0, "masked": "110105********002X"}


@pytest.mark.parametrize(
    ("args", "path_prefix"),
    [(["--type", "auto"], "$.records[0]."), (["--type", "json"], "$.records[0].")],
)
def test_json_file(args: list[str], path_prefix: str) -> None:
    proc = run("classify", *args, str(VECTORS / "patients.json"))
    assert proc.returncode == 0, proc.stderr
    paths = [f["path"] for f in json.loads(proc.stdout)["findings"]]
    assert any(p.startswith(path_prefix) for p in paths)


def test_stdin_csv_table_view() -> None:
    body = (VECTORS / "people.csv").read_text(encoding="utf-8")
    proc = run("classify", "--type", "csv", "--format", "table", "-", stdin=body)
    assert proc.returncode == 0, proc.stderr
    assert "level L4" in proc.stdout and "column remark: cn_resident_id" in proc.stdout


def test_mask_prints_the_masked_document() -> None:
    proc = run("classify", "--mask", "--above", "L3", str(VECTORS / "patients.json"))
    assert proc.returncode == 0, proc.stderr
    masked = json.loads(proc.stdout)
    assert masked["records"][0]["id_card"] == "110105********002X"
    assert ID not in proc.stdout


def test_pseudonym_key_comes_from_the_environment() -> None:
    missing = run("classify", "--mask", "--mode", "pseudonym", "-", stdin=f"身份证{ID}\n",
                  env={"ZONEGATE_CLASSIFY_KEY": ""})
    assert missing.returncode == 2 and "ZONEGATE_CLASSIFY_KEY" in missing.stderr
    ok = run("classify", "--mask", "--mode", "pseudonym", "-", stdin=f"身份证{ID}\n",
             env={"ZONEGATE_CLASSIFY_KEY": "a-long-enough-secret"})
    assert ok.returncode == 0 and ok.stdout.startswith("身份证cn_resident_id_")


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--type", "json", "-"], '{"a": ', "<stdin>: not valid JSON (line 1, column 7)"),
        (["--type", "json", "-"], "[" * 100000, "<stdin>: "),
        (["--type", "csv", "-"], 'a,"b\n', "zonegate: error: <stdin>: CSV line 1: "),
        (["--type", "csv", "--mask", "-"], 'a,b\n1,2\nx,"y\n', "<stdin>: CSV line 3: "),
        (["--type", "csv", "--delimiter", ";;", "-"], "a", "--delimiter: must be one"),
        (["--format", "xml", "-"], "x", "--format: must be json or table"),
        (["--type", "pdf", "-"], "x", "--type: must be auto"),
        (["--above", "L9", "--mask", "-"], "x", "--above: must be one of L1..L6"),
        (["/no/such/file.txt"], None, "/no/such/file.txt: cannot open"),
        (["--catalog", str(VECTORS / "bad_key.yaml"), "-"], "x", "detectors.cn_mobile.colour"),
        # usage errors: Click's multi-line box would break the one-line contract
        ([], "x", "zonegate: error: classify: Missing argument 'PATH'"),
        (["-", "extra"], "x", "unexpected extra argument"),
        (["--fromat", "table", "-"], "x", "No such option: --fromat"),
        (["-", "--format"], "x", "Option '--format' requires an argument"),
        (["-", "--format", "xml"], "x", "--format: must be json or table"),
    ],
)
def test_errors_are_one_line_and_exit_2(args: list[str], stdin: str | None,
                                        message: str) -> None:
    proc = run("classify", *args, stdin=stdin)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_csv_error_names_the_file(tmp_path: Path) -> None:
    doc = tmp_path / "broken.csv"
    doc.write_text('name,phone\n张三,13812345678\n李四,"138\n', encoding="utf-8")
    proc = run("classify", str(doc))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"zonegate: error: {doc}: CSV line 3: unexpected end of data\n"


@pytest.mark.parametrize("args", [["-", "--format", "table"], ["--format", "table", "-"],
                                  ["-", "--type", "csv", "--format", "table"]])
def test_options_may_follow_the_path(args: list[str]) -> None:
    body = (VECTORS / "people.csv").read_text(encoding="utf-8")
    proc = run("classify", "--type", "csv", *args, stdin=body)
    assert proc.returncode == 0, proc.stderr
    assert "level L4" in proc.stdout and "column remark: cn_resident_id" in proc.stdout


def test_options_after_a_file_path(tmp_path: Path) -> None:
    doc = tmp_path / "a.txt"
    doc.write_text(f"身份证号{ID}\n", encoding="utf-8")
    proc = run("classify", str(doc), "--mask", "--above", "L1", "--mode", "redact")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "身份证号[CN_RESIDENT_ID]\n"


def test_help_shows_a_single_command() -> None:
    proc = run("classify", "--help")
    assert proc.returncode == 0 and "PATH" in proc.stdout and "COMMAND" not in proc.stdout


def test_invalid_utf8_is_an_error(tmp_path: Path) -> None:
    doc = tmp_path / "latin1.txt"
    doc.write_bytes("手机13812345678".encode() + b"\xff\xfe")
    proc = run("classify", str(doc))
    assert proc.returncode == 2 and "cannot read as UTF-8" in proc.stderr


def test_fail_above_sets_the_exit_status() -> None:
    assert run("classify", "--fail-above", "L3", "-", stdin=f"身份证{ID}").returncode == 1
    assert run("classify", "--fail-above", "L4", "-", stdin=f"身份证{ID}").returncode == 0


def test_streaming_keeps_offsets_across_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(classify_cmd, "CHUNK", 64)
    lines = [f"第{i}行 普通文字，没有敏感信息。" for i in range(40)]
    lines[17] = f"第17行 身份证号{ID}"
    lines[33] = "第33行 手机13812345678"
    text = "\n".join(lines) + "\n"
    doc = tmp_path / "big.log"
    doc.write_text(text, encoding="utf-8")
    assert main(["classify", str(doc)]) == 0
    out = json.loads(capsys.readouterr().out)
    spans = [(f["type"], text[f["start"]:f["end"]]) for f in out["findings"]]
    assert spans == [("cn_resident_id", ID), ("cn_mobile", "13812345678")]


def test_streaming_mask(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(classify_cmd, "CHUNK", 32)
    text = "".join(f"行{i} 身份证号{ID}\n" for i in range(10))
    doc = tmp_path / "m.log"
    doc.write_text(text, encoding="utf-8")
    assert main(["classify", "--mask", str(doc)]) == 0
    out = capsys.readouterr().out
    assert out == text.replace(ID, "110105********002X")
