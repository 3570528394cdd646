"""`zonegate egress run|issue-ca`: bad input is one line on stderr and exit 2."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from gateway.cli import main
from pki.authority import CertificateAuthority
from tests.gateway.egress.harness import ZONEGATE


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ZONEGATE, *args], capture_output=True, text=True, check=False,
                          timeout=60)


def _one_line_error(done: subprocess.CompletedProcess[str], needle: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], done.stderr


def _in_process(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """`main()` in this process (a subprocess costs seconds of imports per case)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, out, err)


@pytest.fixture
def ca_dir(tmp_path: Path) -> Path:
    CertificateAuthority.init(tmp_path / "ca", "city.example")
    return tmp_path / "ca"


def test_issue_ca_writes_a_root_signed_ca_and_refuses_to_overwrite(
        ca_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cert, key = tmp_path / "egress-ca.crt", tmp_path / "egress-ca.key"
    args = ["egress", "issue-ca", "--dir", str(ca_dir), "--cert-out", str(cert),
            "--key-out", str(key), "--days", "30"]
    assert main(args) == 0
    capsys.readouterr()
    issued = x509.load_pem_x509_certificate(cert.read_bytes())
    assert issued.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    assert key.stat().st_mode & 0o777 == 0o600
    _one_line_error(_in_process(capsys, *args), "refusing to overwrite")


@pytest.mark.parametrize(("args", "needle"), [
    (["--days", "0"], "--days must be between 1 and 365"),
    (["--dir", "/nonexistent/ca"], "not a zonegate CA directory"),
])
def test_issue_ca_bad_input(ca_dir: Path, tmp_path: Path, args: list[str], needle: str,
                            capsys: pytest.CaptureFixture[str]) -> None:
    base = ["egress", "issue-ca", "--dir", str(ca_dir), "--cert-out", str(tmp_path / "c"),
            "--key-out", str(tmp_path / "k")]
    _one_line_error(_in_process(capsys, *base, *args), needle)


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "gw.yaml"
    path.write_text("trust_domain: city.example\n" + body)
    return path


@pytest.mark.parametrize(("body", "extra", "needle"), [
    ("", [], "no 'egress:' section"),
    ("egress: {root: r.pem}\n", [], "egress.ca: Field required"),
    ("egress: {ca: {cert: c, key: k}, root: r, bogus: 1}\n", [], "egress.bogus: unknown key"),
    ("egress: {ca: {cert: c, key: k}, root: r}\n", ["--mode", "socks"], "--mode must be"),
    ("egress: {ca: {cert: c, key: k}, root: r}\n", [], "cannot read the CA key"),
])
def test_run_bad_input(tmp_path: Path, body: str, extra: list[str], needle: str,
                      capsys: pytest.CaptureFixture[str]) -> None:
    config = str(_config(tmp_path, body))
    _one_line_error(_in_process(capsys, "egress", "run", "--config", config, *extra), needle)


def test_a_real_process_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    _one_line_error(_run("egress", "run", "--config", str(_config(tmp_path, ""))),
                    "no 'egress:' section")


def test_run_refuses_a_policy_without_the_egress_decision(
        ca_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["egress", "issue-ca", "--dir", str(ca_dir), "--cert-out",
                 str(tmp_path / "e.crt"), "--key-out", str(tmp_path / "e.key")]) == 0
    (tmp_path / "pol").mkdir()
    (tmp_path / "pol" / "x.rego").write_text("package other\n\ndefault allow := false\n")
    config = _config(tmp_path, "policy: {bundle: pol}\n"
                     "egress: {ca: {cert: e.crt, key: e.key}, root: ca/root.crt}\n")
    capsys.readouterr()
    _one_line_error(_in_process(capsys, "egress", "run", "--config", str(config)),
                    "no rule data.zonegate.egress.decision")
