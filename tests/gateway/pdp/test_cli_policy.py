"""`zonegate policy …` end to end, through the real CLI entry point in a subprocess."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.cli import main
from tests.gateway.pdp.conftest import DOCTOR, POLICIES, VECTORS

BAD = VECTORS / "policies"


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("RUST_BACKTRACE", "1")  # the backtrace must not leak into messages


def zonegate(*args: str, stdin: str | None = None) -> Result:
    """Run `zonegate policy …` in process (main() as the console script calls it)."""
    out, err = io.StringIO(), io.StringIO()
    fake_stdin = io.TextIOWrapper(io.BytesIO((stdin or "").encode()))
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = fake_stdin, out, err
    try:
        code = main(["policy", *args])
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
    return Result(code, out.getvalue(), err.getvalue())


def zonegate_process(*args: str) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a subprocess (exit status, stderr, no traceback)."""
    env = dict(os.environ, RUST_BACKTRACE="1")
    return subprocess.run(
        [sys.executable, "-c", "import sys; from gateway.cli import main; sys.exit(main())",
         "policy", *args],
        capture_output=True, text=True, timeout=120, env=env,
    )


def _one_line_error(result: Result | subprocess.CompletedProcess[str], text: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("zonegate: error: ")
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert text in result.stderr
    assert "Traceback" not in result.stderr and "backtrace" not in result.stderr.lower()


def test_test_passes_with_coverage() -> None:
    result = zonegate("test", str(POLICIES), "--coverage")
    assert result.returncode == 0, result.stdout
    assert "PASS data.zonegate.authz_test.test_bypass" in result.stdout
    passed = re.search(r"(\d+)/(\d+) passed", result.stdout)
    assert passed is not None and passed[1] == passed[2] and int(passed[1]) >= 14
    assert "authz.rego" in result.stdout and "coverage" in result.stdout


def test_test_failure_is_exit_1_with_details() -> None:
    result = zonegate("test", str(BAD / "failing_test"))
    assert result.returncode == 1
    assert "FAIL data.zonegate.authz_test.test_authenticated_denied" in result.stdout
    assert "decision was" in result.stdout
    assert "ERROR data.zonegate.authz_test.test_errors" in result.stdout
    assert "SKIP data.zonegate.authz_test.todo_test_later" in result.stdout


def test_test_json_format() -> None:
    result = zonegate("test", str(POLICIES), "--format", "json", "--coverage")
    doc = json.loads(result.stdout)
    assert doc["summary"] == {"pass": doc["summary"]["pass"], "fail": 0, "error": 0, "skip": 0}
    assert doc["summary"]["pass"] >= 14  # authz and egress
    assert doc["coverage"]["files"]["authz.rego"]["percent"] >= 95


@pytest.mark.parametrize(("args", "code", "text"), [
    (("check", str(POLICIES)), 0, "no findings"),
    (("check", str(BAD / "unknown_builtin")), 1, "policy.rego:9: error: unknown-builtin"),
    (("check", str(BAD / "missing_default")), 1, "policy.rego:5: error: missing-default"),
    (("check", str(BAD / "unreachable")), 0, "policy.rego:9: warning: unreachable-rule"),
    (("check", str(BAD / "unreachable"), "--strict"), 1, "unreachable-rule"),
    (("check", str(BAD / "parse_error")), 1, "policy.rego:5: error: parse-error"),
])
def test_check(args: tuple[str, ...], code: int, text: str) -> None:
    result = zonegate(*args)
    assert result.returncode == code, result.stdout + result.stderr
    assert text in result.stdout
    if "policy.rego:" in text:  # the path as given, so an editor or grep can jump to it
        assert f"{args[1]}/{text}" in result.stdout


def test_check_findings_are_one_line_each_in_a_narrow_pipe(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    result = zonegate("check", str(BAD / "unknown_builtin"))
    finding = [line for line in result.stdout.splitlines() if "unknown-builtin" in line]
    assert len(finding) == 1 and finding[0].startswith(f"{BAD / 'unknown_builtin'}/policy.rego:9:")


def test_eval_prints_the_decision(tmp_path: Path) -> None:
    path = tmp_path / "input.json"
    path.write_text(json.dumps(DOCTOR))
    result = zonegate("eval", "--input", str(path), "--bundle", str(POLICIES))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["allow"] is True
    stdin = zonegate("eval", "--input", "-", "--bundle", str(POLICIES),
                     stdin=json.dumps({**DOCTOR, "device": {"trust": "quarantined"}}))
    assert json.loads(stdin.stdout)["reasons"] == ["device-quarantined"]


def test_eval_explain(tmp_path: Path) -> None:
    path = tmp_path / "input.json"
    path.write_text(json.dumps({**DOCTOR, "context": {"risk": 90}}))
    result = zonegate("eval", "--input", str(path), "--bundle", str(POLICIES), "--explain")
    assert result.returncode == 0, result.stderr
    assert '"step-up-required"' in result.stdout
    assert "_base_denials" in result.stdout and "evaluated lines of authz.rego" in result.stdout


@pytest.mark.parametrize(("content", "text"), [
    ("{not json", "input.json:1:2: invalid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ("", "invalid JSON"),
])
def test_eval_bad_input(tmp_path: Path, content: str, text: str) -> None:
    path = tmp_path / "input.json"
    path.write_text(content)
    _one_line_error(zonegate("eval", "--input", str(path), "--bundle", str(POLICIES)), text)


@pytest.mark.parametrize(("args", "text"), [
    (("test", "/nonexistent/policies"), "no such policy directory"),
    (("check", str(BAD / "parse_error" / "policy.rego")), "not a readable .tar.gz bundle"),
    (("eval", "--input", "/nonexistent.json"), "cannot read"),
    (("eval", "--input", "-", "--bundle", str(BAD / "unknown_builtin")),
     "unknown builtin function crypto.x509.parse_certificates()"),
    (("eval", "--input", "-", "--bundle", str(BAD / "runtime_error")),
     "could not parse string as number"),
    (("test", str(POLICIES), "--format", "yaml"), "--format: must be text or json"),
    (("bundle", "verify", str(VECTORS / "opa_bundle" / "bundle.tar.gz"), "--public-key",
      str(VECTORS / "opa_bundle" / "signing-key.pem")), "not a PEM public key"),
    (("bundle", "build", str(POLICIES), "--out", "/tmp/x.tar.gz", "--key-id", "k"),
     "--key-id needs --signing-key"),
    (("replay", "--decisions", "/nonexistent.jsonl", "--bundle", str(POLICIES)), "cannot read"),
], ids=["missing-dir", "not-a-bundle", "missing-input", "unknown-builtin", "eval-error",
        "bad-format", "private-key-as-public", "key-id-alone", "missing-log"])
def test_errors_are_one_line(args: tuple[str, ...], text: str) -> None:
    _one_line_error(zonegate(*args, stdin='{"n": "x"}'), text)


def test_bundle_build_verify_and_eval(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    private = tmp_path / "k.pem"
    public = tmp_path / "pub.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    out = tmp_path / "bundle.tar.gz"
    built = zonegate("bundle", "build", str(POLICIES), "--out", str(out), "--signing-key",
                     str(private), "--key-id", "ops-1", "--revision", "2026.11.25")
    assert built.returncode == 0, built.stderr
    assert "signed ES256" in built.stdout
    verified = zonegate("bundle", "verify", str(out), "--public-key", str(public))
    assert verified.returncode == 0, verified.stderr
    assert "verified" in verified.stdout and "2026.11.25" in verified.stdout
    evaluated = zonegate("eval", "--input", "-", "--bundle", str(out), "--public-key",
                         str(public), stdin=json.dumps(DOCTOR))
    assert json.loads(evaluated.stdout)["allow"] is True
    _one_line_error(zonegate("eval", "--input", "-", "--bundle", str(out),
                             stdin=json.dumps(DOCTOR)), "no verification key")


def test_opa_vector_verifies() -> None:
    result = zonegate("bundle", "verify", str(VECTORS / "opa_bundle" / "bundle.tar.gz"),
                      "--public-key", str(VECTORS / "opa_bundle" / "public-key.pem"),
                      "--key-id", "zonegate-test")
    assert result.returncode == 0, result.stderr
    assert "v2026.11.25-1" in result.stdout


def test_replay_lists_changes(tmp_path: Path, policy_dir: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    events = [
        {"decision_id": "a", "input": DOCTOR, "result": {"allow": True, "reasons": [],
                                                          "obligations": {}}},
        {"decision_id": "b", "input": {**DOCTOR, "subject": {**DOCTOR["subject"],  # type: ignore[dict-item]
                                                             "roles": ["nurse"]}},
         "result": {"allow": True, "reasons": [], "obligations": {}}},
    ]
    log.write_text("".join(json.dumps(e) + "\n" for e in events))
    zones = policy_dir / "data" / "zones.json"
    zones.write_text(zones.read_text().replace('{"roles": ["nurse"], "methods": ["GET"]}',
                                               '{"roles": ["nurse"], "methods": ["PUT"]}'))
    result = zonegate("replay", "--decisions", str(log), "--bundle", str(policy_dir),
                      "--format", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["total"] == 2
    assert [(c["decision_id"], c["kind"]) for c in doc["changes"]] == [("b", "allow->deny")]
    table = zonegate("replay", "--decisions", str(log), "--bundle", str(policy_dir))
    assert "1 of 2 decisions would change" in table.stdout and "allow->deny: 1" in table.stdout


@pytest.mark.parametrize(("args", "code", "text"), [
    (("test", str(BAD / "failing_test")), 1, "FAIL data.zonegate.authz_test"),
    (("eval", "--input", "/nonexistent.json"), 2, "zonegate: error: input /nonexistent.json"),
], ids=["tests-fail", "bad-input"])
def test_console_entry_point(args: tuple[str, ...], code: int, text: str) -> None:
    result = zonegate_process(*args)
    assert result.returncode == code
    assert text in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


DEEP_JSON = "[" * 50_000 + "]" * 50_000


@pytest.mark.parametrize("verb", ["test", "check"])
def test_deeply_nested_policy_data_is_one_line(tmp_path: Path, verb: str) -> None:
    import shutil

    bundle = tmp_path / "policies"
    shutil.copytree(POLICIES, bundle)
    (bundle / "data" / "deep.json").write_text(DEEP_JSON)
    _one_line_error(zonegate(verb, str(bundle)), "nested too deeply")


def test_deeply_nested_eval_input_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "input.json"
    path.write_text(DEEP_JSON)
    _one_line_error(zonegate("eval", "--input", str(path), "--bundle", str(POLICIES)),
                    "nested too deeply")


def test_replay_log_with_a_bad_byte_names_its_line(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    event = json.dumps({"decision_id": "d1", "input": {"subject": {}}})
    log.write_bytes(event.encode() + b"\n" + b'{"input": "\xff"}\n')
    _one_line_error(zonegate("replay", "--decisions", str(log), "--bundle", str(POLICIES)),
                    f"{log}:2: not UTF-8")


def test_eval_says_how_the_gateway_enforces_the_result(tmp_path: Path) -> None:
    allowed = zonegate("eval", "--input", "-", "--bundle", str(POLICIES),
                       stdin=json.dumps(DOCTOR))
    assert allowed.stderr.strip() == "gateway: allow"
    malformed = zonegate("eval", "--input", "-", "--bundle", str(BAD / "malformed_decision"),
                         stdin=json.dumps(DOCTOR))
    assert malformed.returncode == 0, malformed.stderr
    assert json.loads(malformed.stdout)["allow"] == "yes"  # the raw result, as written
    assert malformed.stderr.strip() == "gateway: deny (policy-malformed)"


@pytest.mark.parametrize("command", ["check", "test"])
def test_deeply_nested_rego_is_an_error_not_a_hang(tmp_path: Path, command: str) -> None:
    # regorus parses this 22-deep literal for hours; the bound refuses it before parsing
    (tmp_path / "deep.rego").write_text(
        "package deep\n\nx := " + "[" * 22 + "1" + "]" * 22 + "\n", encoding="utf-8")
    _one_line_error(zonegate_process(command, str(tmp_path)), "too deeply")
