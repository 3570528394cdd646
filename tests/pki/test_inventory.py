"""Revocation, CRLs and the inventory: atomic, locked, and never losing an entry."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

import pki.inventory
from pki.authority import CertificateAuthority
from pki.errors import (
    AlreadyRevoked,
    CACorrupt,
    InvalidArgument,
    PKIError,
    RenewalRefused,
    SerialNotFound,
)
from pki.inventory import ARCHIVE_NAME, JOURNAL_NAME, Inventory
from pki.pem import load_certificate

ROOT = Path(__file__).resolve().parents[2]


def _crl(ca: CertificateAuthority) -> x509.CertificateRevocationList:
    return x509.load_pem_x509_crl(ca.crl_path.read_bytes())


def _reason(revoked: object) -> x509.ReasonFlags | None:
    assert isinstance(revoked, x509.RevokedCertificate)
    try:
        return revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        return None


def test_fresh_ca_has_an_empty_signed_crl(ca: CertificateAuthority) -> None:
    crl = _crl(ca)
    assert len(crl) == 0
    assert crl.is_signature_valid(ca.intermediate.public_key())  # type: ignore[arg-type]
    assert crl.issuer == ca.intermediate.subject
    assert crl.next_update_utc is not None
    assert crl.next_update_utc - crl.last_update_utc == timedelta(hours=48)


def test_revoke_updates_inventory_and_crl(ca: CertificateAuthority) -> None:
    keep = ca.issue(zone="z", kind="device", name="keep")
    lost = ca.issue(zone="z", kind="device", name="lost")
    number_before = _crl(ca).extensions.get_extension_for_class(x509.CRLNumber).value
    entry = ca.revoke(lost.serial, "keyCompromise")
    assert entry.revocation_reason == "keyCompromise" and entry.status() == "revoked"
    crl = _crl(ca)
    revoked = crl.get_revoked_certificate_by_serial_number(lost.serial)
    assert revoked is not None
    reason = _reason(revoked)
    assert reason is x509.ReasonFlags.key_compromise
    assert crl.get_revoked_certificate_by_serial_number(keep.serial) is None
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value
    assert number.crl_number == number_before.crl_number + 1
    statuses = {e.name: e.status() for e in ca.entries()}
    assert statuses == {"keep": "valid", "lost": "revoked"}


def test_unspecified_reason_is_omitted_from_the_crl(ca: CertificateAuthority) -> None:
    issued = ca.issue(zone="z", kind="device", name="d")
    ca.revoke(issued.serial)
    revoked = _crl(ca).get_revoked_certificate_by_serial_number(issued.serial)
    assert revoked is not None and _reason(revoked) is None


@pytest.mark.parametrize(("serial", "reason", "error"), [
    (12345, "unspecified", SerialNotFound),
    (None, "notAReason", InvalidArgument),
    (None, "removeFromCRL", InvalidArgument),
])
def test_revoke_errors(ca: CertificateAuthority, serial: int | None, reason: str,
                       error: type[Exception]) -> None:
    issued = ca.issue(zone="z", kind="device", name="d")
    with pytest.raises(error):
        ca.revoke(serial or issued.serial, reason)  # type: ignore[arg-type]
    assert len(_crl(ca)) == 0


def test_revoking_twice_is_reported(ca: CertificateAuthority) -> None:
    issued = ca.issue(zone="z", kind="device", name="d")
    ca.revoke(issued.serial)
    with pytest.raises(AlreadyRevoked, match="already revoked"):
        ca.revoke(issued.serial)


def test_write_crl_with_a_chosen_next_update(ca: CertificateAuthority) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    ca.write_crl(now=now, lifetime=timedelta(hours=6))
    crl = _crl(ca)
    assert crl.last_update_utc == now and crl.next_update_utc == now + timedelta(hours=6)


def test_expired_status(ca: CertificateAuthority) -> None:
    ca.issue(zone="z", kind="device", name="old", now=datetime.now(UTC) - timedelta(days=2))
    assert [e.status() for e in ca.entries()] == ["expired"]


@pytest.mark.parametrize("content", [b"", b"{", b"[]", b'{"version": 1}',
                                     b'{"version": 1, "certificates": [1]}',
                                     b'{"version": 1, "certificates": [{"serial": 5}]}'])
def test_corrupt_inventory_is_named_not_overwritten(ca: CertificateAuthority,
                                                    content: bytes) -> None:
    path = ca.directory / "inventory.json"
    path.write_bytes(content)
    with pytest.raises(CACorrupt, match=r"inventory\.json"):
        ca.issue(zone="z", kind="device", name="d")
    assert path.read_bytes() == content


def test_failed_journal_append_keeps_the_inventory(ca: CertificateAuthority,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    ca.issue(zone="z", kind="device", name="first")
    journal = ca.directory / JOURNAL_NAME
    before = journal.read_bytes()

    def crash(fd: int) -> None:
        raise OSError(5, "simulated I/O error")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(PKIError, match=r"cannot append to .*journal.*simulated"):
        ca.issue(zone="z", kind="device", name="second")
    monkeypatch.undo()
    assert journal.read_bytes() == before  # the half-done line was cut back off
    ca.issue(zone="z", kind="device", name="third")
    assert [e.name for e in ca.entries()] == ["first", "third"]


def test_failed_compaction_keeps_the_old_snapshot(ca: CertificateAuthority,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pki.inventory, "COMPACT_MIN_RECORDS", 3)
    ca.issue(zone="z", kind="device", name="first")
    ca.issue(zone="z", kind="device", name="second")
    path, journal = ca.directory / "inventory.json", ca.directory / JOURNAL_NAME
    before = path.read_bytes(), journal.read_bytes()

    def crash(self: Path, target: Path) -> None:
        raise OSError(5, "simulated crash before rename")

    monkeypatch.setattr(Path, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        ca.issue(zone="z", kind="device", name="third")  # the third change compacts
    monkeypatch.undo()
    assert (path.read_bytes(), journal.read_bytes()) == before
    assert not [p for p in ca.directory.iterdir() if p.name.endswith(".tmp")]
    assert [e.name for e in ca.entries()] == ["first", "second"]


_WORKER = """
import os
import sys
from pathlib import Path
import pki.inventory
from pki.authority import CertificateAuthority
pki.inventory.COMPACT_MIN_RECORDS = int(os.environ.get("COMPACT_MIN_RECORDS", "1024"))
ca = CertificateAuthority.open(Path(sys.argv[1]))
for i in range(int(sys.argv[3])):
    issued = ca.issue(zone="z", kind="device", name=f"{sys.argv[2]}-{i}")
    if len(sys.argv) > 4:
        out = Path(sys.argv[4])
        issued.write(out / f"{sys.argv[2]}-{i}.crt", key_out=out / f"{sys.argv[2]}-{i}.key")
"""


@pytest.mark.parametrize("compact_every", [1024, 7], ids=["journal", "compacting"])
def test_concurrent_issuers_lose_no_entry(ca: CertificateAuthority, compact_every: int) -> None:
    # each worker keeps one CertificateAuthority: it catches up with the others' journal
    # lines, and rereads everything after another worker compacted
    workers, each = 4, 15
    env = {**os.environ, "COMPACT_MIN_RECORDS": str(compact_every)}
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(ca.directory), f"w{n}",
                               str(each)], cwd=ROOT, env=env) for n in range(workers)]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    names = sorted(e.name for e in ca.entries())
    assert names == sorted(f"w{n}-{i}" for n in range(workers) for i in range(each))
    assert len({e.serial for e in ca.entries()}) == workers * each
    compactions = Inventory.load(ca.directory).generation - 1
    assert (compactions >= 3) if compact_every < workers * each else compactions == 0


def test_killed_issuer_loses_no_delivered_certificate(ca: CertificateAuthority,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", _WORKER, str(ca.directory), "k", "100000",
                             str(out)], cwd=ROOT)
    deadline = time.monotonic() + 60
    while len(list(out.glob("*.crt"))) < 20 and time.monotonic() < deadline:
        assert proc.poll() is None
        time.sleep(0.02)  # polling for progress, not waiting for a server
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    listed = {entry.serial for entry in Inventory.load(ca.directory).entries}
    delivered = {f"{load_certificate(p.read_bytes(), str(p)).serial_number:x}"
                 for p in out.glob("*.crt") if p.stat().st_size}
    assert len(delivered) >= 20
    assert delivered <= listed  # the load above also proves the files still parse


def test_entries_past_the_renewal_window_move_to_the_archive(
        ca: CertificateAuthority) -> None:
    now = datetime.now(UTC)
    recent = ca.issue(zone="z", kind="device", name="recent", now=now - timedelta(days=2))
    old = ca.issue(zone="z", kind="device", name="old", now=now - timedelta(days=10))
    assert [e.name for e in ca.entries()] == ["recent", "old"]  # nothing old enough yet
    ca.issue(zone="z", kind="device", name="new")
    assert [e.name for e in ca.entries()] == ["recent", "new"]
    lines = (ca.directory / ARCHIVE_NAME).read_text().splitlines()
    assert [json.loads(line)["serial"] for line in lines] == [old.entry.serial]
    with pytest.raises(RenewalRefused, match="grace period"):
        ca.renew(old.certificate)
    assert ca.renew(recent.certificate).entry.renewed_from == recent.entry.serial
    assert [e.name for e in ca.entries(archived=True)][:2] == ["old", "recent"]


def test_a_torn_archive_line_is_isolated_and_skipped(ca: CertificateAuthority) -> None:
    (ca.directory / ARCHIVE_NAME).write_bytes(b'{"serial": "ab", "spiffe')  # crash mid-append
    old = ca.issue(zone="z", kind="device", name="old",
                   now=datetime.now(UTC) - timedelta(days=10))
    ca.issue(zone="z", kind="device", name="new")
    assert [e.serial for e in Inventory.load(ca.directory).archived()] == [old.entry.serial]
