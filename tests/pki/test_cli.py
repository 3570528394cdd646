"""`zonegate pki …` end to end: the commands, their files and their one-line errors."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.cli import main

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "pki"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from gateway.cli import main; sys.exit(main())",
         *args],
        capture_output=True, text=True, timeout=60,
    )


@pytest.fixture
def ca_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ZG_TEST_PASS", "s3cret passphrase")
    directory = tmp_path / "ca"
    assert main(["pki", "init", "--dir", str(directory), "--trust-domain", "city.example",
                 "--passphrase-env", "ZG_TEST_PASS"]) == 0
    return directory


def _issue(ca_dir: Path, out: Path, name: str, *extra: str) -> int:
    return main(["pki", "issue", "--dir", str(ca_dir), "--zone", "health", "--device", name,
                 "--cert-out", str(out / f"{name}.crt"), "--key-out", str(out / f"{name}.key"),
                 "--chain-out", str(out / f"{name}-chain.crt"),
                 "--passphrase-env", "ZG_TEST_PASS", *extra])


def _list(ca_dir: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["pki", "list", "--dir", str(ca_dir), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, list)
    return data


def test_issue_verify_revoke_crl_list(ca_dir: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert _issue(ca_dir, tmp_path, "cam-1") == 0
    assert stat.S_IMODE((tmp_path / "cam-1.key").stat().st_mode) == 0o600
    capsys.readouterr()
    assert main(["pki", "verify", str(tmp_path / "cam-1.crt"), "--dir", str(ca_dir),
                 "--format", "json"]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["valid"] is True
    assert verdict["spiffe_id"] == "spiffe://city.example/zone/health/device/cam-1"
    entries = _list(ca_dir, capsys)
    assert [e["status"] for e in entries] == ["valid"]
    assert verdict["serial"] == entries[0]["serial"]
    assert main(["pki", "revoke", "--dir", str(ca_dir), "--serial", str(entries[0]["serial"]),
                 "--reason", "keyCompromise", "--passphrase-env", "ZG_TEST_PASS"]) == 0
    assert [e["status"] for e in _list(ca_dir, capsys)] == ["revoked"]
    assert main(["pki", "verify", str(tmp_path / "cam-1.crt"), "--dir", str(ca_dir)]) == 2
    assert "cert-revoked" in capsys.readouterr().err
    assert main(["pki", "crl", "--dir", str(ca_dir), "--out", str(tmp_path / "copy.pem"),
                 "--lifetime", "6h", "--passphrase-env", "ZG_TEST_PASS"]) == 0
    assert (tmp_path / "copy.pem").read_bytes() == (ca_dir / "crl.pem").read_bytes()
    # the full chain file verifies too (the leaf is first, the intermediate rides along)
    assert _issue(ca_dir, tmp_path, "cam-2") == 0
    assert main(["pki", "verify", str(tmp_path / "cam-2-chain.crt"), "--dir",
                 str(ca_dir)]) == 0
    capsys.readouterr()
    assert main(["pki", "list", "--dir", str(ca_dir), "--status", "valid"]) == 0
    table = capsys.readouterr().out
    assert "cam-2" in table and "cam-1" not in table


def test_server_certificate_and_renewal(ca_dir: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pki", "issue", "--dir", str(ca_dir), "--zone", "transport", "--service",
                 "gw", "--usage", "server", "--usage", "client", "--dns", "gw.local",
                 "--ip", "127.0.0.1", "--cert-out", str(tmp_path / "gw.crt"), "--key-out",
                 str(tmp_path / "gw.key"), "--passphrase-env", "ZG_TEST_PASS"]) == 0
    assert main(["pki", "verify", str(tmp_path / "gw.crt"), "--dir", str(ca_dir),
                 "--usage", "server", "--server-name", "127.0.0.1"]) == 0
    assert main(["pki", "issue", "--dir", str(ca_dir), "--renew", str(tmp_path / "gw.crt"),
                 "--cert-out", str(tmp_path / "gw2.crt"), "--key-out",
                 str(tmp_path / "gw2.key"), "--passphrase-env", "ZG_TEST_PASS"]) == 0
    entries = _list(ca_dir, capsys)
    assert entries[1]["renewed_from"] == entries[0]["serial"]
    assert entries[1]["spiffe_id"] == entries[0]["spiffe_id"]
    assert entries[1]["dns"] == ["gw.local"]


def test_issue_from_an_openssl_csr(ca_dir: Path, tmp_path: Path,
                                   require_tool: Callable[[str], str]) -> None:
    openssl = require_tool("openssl")
    key, req = tmp_path / "dev.key", tmp_path / "dev.csr"
    made = subprocess.run([openssl, "req", "-new", "-newkey", "ec", "-pkeyopt",
                           "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out",
                           str(req), "-subj", "/CN=meter-3"], capture_output=True, timeout=30)
    assert made.returncode == 0
    assert main(["pki", "issue", "--dir", str(ca_dir), "--zone", "water", "--device",
                 "meter-3", "--csr", str(req), "--cert-out", str(tmp_path / "m.crt"),
                 "--passphrase-env", "ZG_TEST_PASS"]) == 0
    check = subprocess.run([openssl, "x509", "-in", str(tmp_path / "m.crt"), "-noout",
                            "-ext", "subjectAltName"], capture_output=True, text=True,
                           timeout=30)
    assert "URI:spiffe://city.example/zone/water/device/meter-3" in check.stdout


ERRORS = {
    "init-again": (["pki", "init", "--dir", "{ca}", "--trust-domain", "city.example"],
                   "already holds a CA"),
    "no-passphrase": (["pki", "issue", "--dir", "{ca}", "--zone", "z", "--device", "d",
                       "--cert-out", "{tmp}/d.crt", "--key-out", "{tmp}/d.key"],
                      "give --passphrase-env or --passphrase-file"),
    "wrong-passphrase": (["pki", "crl", "--dir", "{ca}", "--passphrase-env", "ZG_WRONG"],
                         "wrong passphrase"),
    "unset-passphrase-var": (["pki", "crl", "--dir", "{ca}", "--passphrase-env",
                              "ZG_NOT_SET_ANYWHERE"], "ZG_NOT_SET_ANYWHERE"),
    "lifetime-over-max": (["pki", "issue", "--dir", "{ca}", "--zone", "z", "--device", "d",
                           "--lifetime", "48h", "--cert-out", "{tmp}/d.crt", "--key-out",
                           "{tmp}/d.key", "--passphrase-env", "ZG_TEST_PASS"], "maximum"),
    "bad-lifetime": (["pki", "issue", "--dir", "{ca}", "--zone", "z", "--device", "d",
                      "--lifetime", "soon", "--cert-out", "{tmp}/d.crt", "--key-out",
                      "{tmp}/d.key", "--passphrase-env", "ZG_TEST_PASS"], "--lifetime"),
    "device-and-service": (["pki", "issue", "--dir", "{ca}", "--zone", "z", "--device", "d",
                            "--service", "s", "--cert-out", "{tmp}/d.crt", "--key-out",
                            "{tmp}/d.key"], "not both"),
    "bad-serial": (["pki", "revoke", "--dir", "{ca}", "--serial", "xyz"], "serial"),
    "unknown-serial": (["pki", "revoke", "--dir", "{ca}", "--serial", "abc",
                        "--passphrase-env", "ZG_TEST_PASS"], "no certificate with serial"),
    "not-a-ca": (["pki", "list", "--dir", "{tmp}"], "not a zonegate CA directory"),
    "garbage-cert": (["pki", "verify", str(VECTORS / "truncated.pem"), "--dir", "{ca}"],
                     "malformed-certificate"),
    "missing-cert": (["pki", "verify", "{tmp}/nope.crt", "--dir", "{ca}"], "does not exist"),
    "garbage-csr": (["pki", "issue", "--dir", "{ca}", "--csr", str(VECTORS / "text.txt"),
                     "--cert-out", "{tmp}/d.crt", "--passphrase-env", "ZG_TEST_PASS"],
                    "not a certificate signing request"),
    "bad-at": (["pki", "verify", str(VECTORS / "empty.pem"), "--dir", "{ca}", "--at", "x"],
               "ISO 8601"),
}


@pytest.mark.parametrize("case", ERRORS)
def test_errors_are_one_line_exit_2(case: str, ca_dir: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZG_WRONG", "not the passphrase")
    args, message = ERRORS[case]
    capsys.readouterr()
    assert main([a.format(ca=ca_dir, tmp=tmp_path) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zonegate: error: ")
    assert err.strip().count("\n") == 0, err
    assert message in err


def test_a_real_process_prints_no_traceback(ca_dir: Path) -> None:
    result = run("pki", "verify", str(VECTORS / "der-garbage.der"), "--dir", str(ca_dir))
    assert result.returncode == 2
    assert result.stderr.startswith("zonegate: error: malformed-certificate: ")
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr


def test_existing_outputs_are_kept_without_force(ca_dir: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert _issue(ca_dir, tmp_path, "cam-1") == 0
    before = (tmp_path / "cam-1.key").read_bytes()
    assert _issue(ca_dir, tmp_path, "cam-1") == 2
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "cam-1.key").read_bytes() == before
    assert len(_list(ca_dir, capsys)) == 1  # nothing issued for the refused run
    assert _issue(ca_dir, tmp_path, "cam-1", "--force") == 0
    assert (tmp_path / "cam-1.key").read_bytes() != before
