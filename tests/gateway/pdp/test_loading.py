"""Loading policy sources and compiling them: every bad input is a clear PolicyLoadError."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.pdp import CompiledPolicy, PolicyLoadError
from gateway.pdp.rego import builtin_exists, compile_policy, engine_message
from gateway.pdp.source import load_source
from tests.gateway.pdp.conftest import POLICIES, VECTORS

SHIPPED = {"authz.rego", "authz_test.rego", "egress.rego", "egress_test.rego"}

BAD = VECTORS / "policies"


def test_shipped_policies_load() -> None:
    source = load_source(POLICIES)
    assert dict(source.modules).keys() == SHIPPED
    assert set(source.data["zonegate"]) == {"zones", "egress"}  # type: ignore[arg-type]
    assert source.revision.startswith("sha256:")
    assert len(source.test_modules) == 2 and len(source.without_tests().modules) == 2


def test_revision_follows_content(policy_dir: Path) -> None:
    before = load_source(policy_dir).revision
    (policy_dir / "authz.rego").write_text((policy_dir / "authz.rego").read_text() + "\n")
    assert load_source(policy_dir).revision != before


def test_manifest_revision_wins(policy_dir: Path) -> None:
    (policy_dir / ".manifest").write_text('{"revision": "2026-11-25.1", "roots": ["zonegate"]}')
    assert load_source(policy_dir).revision == "2026-11-25.1"


def test_hidden_and_other_files_are_ignored(policy_dir: Path) -> None:
    (policy_dir / ".git").mkdir()
    (policy_dir / ".git" / "x.rego").write_text("not rego")
    (policy_dir / "notes.txt").write_text("ignored")
    assert dict(load_source(policy_dir).modules).keys() == SHIPPED


@pytest.mark.parametrize(("name", "content", "message"), [
    ("data/zones.json", b"{not json", r"data/zones\.json:1: invalid JSON"),
    ("data/zones.json", b'{"a": NaN}', "NaN is not JSON"),
    ("data/extra.json", b"\xff\xfe", "not UTF-8"),
    ("authz.rego", b"\xc3\x28", "authz.rego: not UTF-8"),
    (".manifest", b"[1]", r"\.manifest: must hold a JSON object"),
    ("zonegate/zones/data.json", b'{"health": {}}', "defined twice"),
], ids=["bad-json", "nan", "data-not-utf8", "rego-not-utf8", "manifest-array", "collision"])
def test_bad_files_are_named(policy_dir: Path, name: str, content: bytes, message: str) -> None:
    target = policy_dir / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    with pytest.raises(PolicyLoadError, match=message):
        load_source(policy_dir)


def test_missing_and_empty(tmp_path: Path) -> None:
    with pytest.raises(PolicyLoadError, match="no such policy directory"):
        load_source(tmp_path / "nope")
    with pytest.raises(PolicyLoadError, match=r"no \.rego files"):
        load_source(tmp_path)


def test_parse_error_names_file_and_line() -> None:
    with pytest.raises(PolicyLoadError, match=r"parse_error/policy\.rego:5:\d+: ") as info:
        compile_policy(load_source(BAD / "parse_error"))
    assert "Stack backtrace" not in str(info.value) and "\n" not in str(info.value)


def test_unknown_builtin_is_refused_at_load_time() -> None:
    with pytest.raises(PolicyLoadError, match=r"policy\.rego:9: unknown builtin function "
                                              r"crypto\.x509\.parse_certificates\(\)"):
        CompiledPolicy(load_source(BAD / "unknown_builtin"))


@pytest.mark.parametrize(("name", "exists"), [
    ("count", True), ("net.cidr_contains", True), ("time.clock", True), ("regex.match", True),
    ("print", True), ("foo.bar", False), ("crypto.x509.parse_certificates", False),
])
def test_builtin_probe(name: str, exists: bool) -> None:
    assert builtin_exists(name) is exists


def test_user_functions_and_imports_are_not_builtins(tmp_path: Path) -> None:
    (tmp_path / "a.rego").write_text(
        "package lib.helpers\n\nbump(x) := x + 1\n")
    (tmp_path / "b.rego").write_text(
        "package zonegate.authz\n\nimport data.lib.helpers as h\n\n"
        "default decision := {\"allow\": false}\n\nlocal(x) := x * 2\n\n"
        "n := h.bump(local(1)) + data.lib.helpers.bump(1)\n")
    assert CompiledPolicy(load_source(tmp_path)).rule == "data.zonegate.authz.decision"


@pytest.mark.parametrize(("policy", "decision", "message"), [
    ("clean", "zonegate/authz/nothing", "no rule data.zonegate.authz.nothing"),
    ("undefined_entrypoint", "zonegate/authz/decision", "undefined for an empty input"),
    ("clean", "zonegate/../x", "not a/b/c of Rego names"),
])
def test_decision_rule_is_checked(policy: str, decision: str, message: str) -> None:
    with pytest.raises(PolicyLoadError, match=message):
        CompiledPolicy(load_source(BAD / policy), decision)


def test_engine_message_strips_the_backtrace() -> None:
    raw = RuntimeError("\n--> a.rego:7:21\n  |\n7 | y := to_number(input.s)\n  |    ^\n"
                       "error: could not parse string as number\n\nStack backtrace:\n  0: x\n")
    assert engine_message(raw) == "a.rego:7:21: could not parse string as number"
    assert engine_message(RuntimeError("plain failure\nStack backtrace:\n 0")) == "plain failure"
