"""The inventory journal: O(1) changes, replay, compaction, crashes and bad lines."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

import pki.inventory
from pki.authority import CertificateAuthority
from pki.entry import InventoryEntry
from pki.errors import CACorrupt, RenewalRefused
from pki.inventory import ARCHIVE_NAME, INVENTORY_NAME, JOURNAL_NAME, Inventory
from tests.pki.conftest import TRUST_DOMAIN

ROOT = Path(__file__).resolve().parents[2]


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def _snapshot(ca: CertificateAuthority) -> dict[str, object]:
    data = json.loads((ca.directory / INVENTORY_NAME).read_bytes())
    assert isinstance(data, dict)
    return data


def _save_v1(path: Path, entries: list[InventoryEntry], crl_number: int) -> None:
    """`Inventory.save` as it was before the journal (format version 1), verbatim."""
    head = f'{{"version": 1, "crl_number": {crl_number}, "certificates": ['
    lines = ",\n".join(json.dumps(entry.to_dict()) for entry in entries)
    text = f"{head}\n{lines}\n]}}\n" if lines else f"{head}]}}\n"
    path.write_bytes(text.encode())


# -- the normal path ---------------------------------------------------------------------

def test_a_change_appends_one_line_and_leaves_the_snapshot_alone(
        ca: CertificateAuthority) -> None:
    snapshot = ca.directory / INVENTORY_NAME
    before = snapshot.read_bytes(), snapshot.stat().st_ino
    assert _snapshot(ca)["generation"] == 1 and not (ca.directory / JOURNAL_NAME).exists()
    issued = ca.issue(zone="z", kind="device", name="a")
    ca.revoke(issued.serial, "keyCompromise")
    assert (snapshot.read_bytes(), snapshot.stat().st_ino) == before
    ops = [line["op"] for line in _lines(ca.directory / JOURNAL_NAME)]
    assert ops == ["journal", "add", "revoke", "crl"]


def test_load_is_snapshot_plus_replay(ca: CertificateAuthority) -> None:
    a = ca.issue(zone="z", kind="device", name="a")
    ca.issue(zone="z", kind="svc", name="b", usages=("server",), dns_names=("b.local",))
    ca.revoke(a.serial, "superseded")
    ca.write_crl()
    inventory = Inventory.load(ca.directory)
    assert [(e.name, e.status()) for e in inventory.entries] == [("a", "revoked"),
                                                                 ("b", "valid")]
    assert [e.serial for e in inventory.revoked()] == [a.entry.serial]
    assert inventory.crl_number == _snapshot(ca)["crl_number"] + 2  # type: ignore[operator]
    assert inventory.find(a.serial).revocation_reason == "superseded"
    assert inventory.entries[1].dns == ("b.local",)


def test_compaction_folds_the_journal_into_the_next_generation(
        ca: CertificateAuthority, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pki.inventory, "COMPACT_MIN_RECORDS", 4)
    journal = ca.directory / JOURNAL_NAME
    serials = [ca.issue(zone="z", kind="device", name=f"d{i}").entry.serial for i in range(3)]
    assert len(_lines(journal)) == 4  # header + 3
    before = [e.to_dict() for e in Inventory.load(ca.directory).entries]
    ca.revoke(int(serials[1], 16))  # the 4th change compacts; the CRL number is the 5th
    assert [line["op"] for line in _lines(journal)] == ["journal", "crl"]
    data = _snapshot(ca)
    assert data["generation"] == 2
    stored = data["certificates"]
    assert isinstance(stored, list)
    assert [e["serial"] for e in stored] == serials
    assert stored[1]["revoked_at"] is not None
    assert [e | {"revoked_at": None, "revocation_reason": None} for e in stored] == before
    # the threshold follows the snapshot's size, so compaction stays O(1) amortised
    monkeypatch.setattr(pki.inventory, "COMPACT_MIN_RECORDS", 2)
    for i in range(3, 9):
        ca.issue(zone="z", kind="device", name=f"d{i}")  # d4 compacts: 3 changes, 3 entries
    assert _snapshot(ca)["generation"] == 3 and len(_lines(journal)) == 1 + 4  # d5..d8
    ca.issue(zone="z", kind="device", name="d9")  # 5 changes on a 5-entry snapshot: due
    assert _snapshot(ca)["generation"] == 4 and not journal.exists()


def test_a_long_lived_authority_sees_other_writers(ca: CertificateAuthority,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    other = CertificateAuthority.open(ca.directory)
    issued = ca.issue(zone="z", kind="device", name="a")
    other.revoke(issued.serial)  # other reads a's journal line
    with pytest.raises(RenewalRefused, match="revoked"):
        ca.renew(issued.certificate)  # a catches up with other's line
    monkeypatch.setattr(pki.inventory, "COMPACT_MIN_RECORDS", 1)
    other.issue(zone="z", kind="device", name="b")  # compacts: a must reread everything
    monkeypatch.undo()
    ca.issue(zone="z", kind="device", name="c")
    assert [e.name for e in Inventory.load(ca.directory).entries] == ["a", "b", "c"]
    assert [e.name for e in other.entries()] == ["a", "b", "c"]


def test_renewal_revoked_after_the_lookup_is_refused(ca: CertificateAuthority,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    issued = ca.issue(zone="z", kind="device", name="a")
    other = CertificateAuthority.open(ca.directory)
    real = ca._check_lifetime

    def revoke_meanwhile(lifetime: timedelta | None, moment: datetime) -> timedelta:
        other.revoke(issued.serial)  # between renew's lookup and _issue's lock
        return real(lifetime, moment)

    monkeypatch.setattr(ca, "_check_lifetime", revoke_meanwhile)
    with pytest.raises(RenewalRefused, match="revoked"):
        ca.renew(issued.certificate)
    assert [e.name for e in ca.entries()] == ["a"]


def test_prune_is_a_journal_line_not_a_rewrite(ca: CertificateAuthority) -> None:
    old = ca.issue(zone="z", kind="device", name="old",
                   now=datetime.now(UTC) - timedelta(days=10))
    generation = _snapshot(ca)["generation"]
    ca.issue(zone="z", kind="device", name="new")
    assert _snapshot(ca)["generation"] == generation
    assert _lines(ca.directory / JOURNAL_NAME)[-2] == {"op": "prune",
                                                      "serials": [old.entry.serial]}
    assert [e.name for e in ca.entries()] == ["new"]
    assert [e.name for e in ca.entries(archived=True)] == ["old", "new"]


# -- existing directories ----------------------------------------------------------------

def test_a_version_1_directory_keeps_working(ca: CertificateAuthority) -> None:
    keep = ca.issue(zone="z", kind="device", name="keep")
    gone = ca.issue(zone="z", kind="device", name="gone")
    ca.revoke(gone.serial, "keyCompromise")
    entries = Inventory.load(ca.directory).entries
    snapshot = ca.directory / INVENTORY_NAME
    _save_v1(snapshot, entries, 7)  # what the previous release left behind
    (ca.directory / JOURNAL_NAME).unlink()
    old = snapshot.read_bytes()

    opened = CertificateAuthority.open(ca.directory)
    assert opened.entries() == entries and snapshot.read_bytes() == old  # reading writes nothing
    inventory = Inventory.load(ca.directory)
    assert (inventory.generation, inventory.crl_number) == (0, 7)
    renewed = opened.renew(keep.certificate)  # the first change upgrades to version 2
    data = _snapshot(opened)
    assert (data["version"], data["generation"], data["crl_number"]) == (2, 1, 7)
    assert not (ca.directory / JOURNAL_NAME).exists()
    opened.write_crl()
    assert [e.name for e in opened.entries()] == ["keep", "gone", "keep"]
    assert opened.entries()[2].renewed_from == keep.entry.serial
    assert Inventory.load(ca.directory).crl_number == 8
    loaded = x509.load_pem_x509_crl(opened.crl_path.read_bytes())
    assert loaded.get_revoked_certificate_by_serial_number(gone.serial) is not None
    assert loaded.get_revoked_certificate_by_serial_number(renewed.serial) is None


def test_an_empty_version_1_inventory_loads(tmp_path: Path) -> None:
    ca = CertificateAuthority.init(tmp_path / "ca", TRUST_DOMAIN)
    _save_v1(ca.directory / INVENTORY_NAME, [], 1)
    assert CertificateAuthority.open(ca.directory).entries() == []
    CertificateAuthority.open(ca.directory).issue(zone="z", kind="device", name="a")
    assert [e.name for e in Inventory.load(ca.directory).entries] == ["a"]


# -- torn and malformed journal lines ----------------------------------------------------

def test_a_torn_last_line_is_ignored_reported_and_cut_off(
        ca: CertificateAuthority, caplog: pytest.LogCaptureFixture) -> None:
    ca.issue(zone="z", kind="device", name="a")
    journal = ca.directory / JOURNAL_NAME
    with journal.open("ab") as handle:
        handle.write(b'{"op": "add", "entry": {"serial": "ab')  # a crash mid-write
    with caplog.at_level(logging.WARNING, logger="pki.inventory"):
        inventory = Inventory.load(ca.directory)
    assert [e.name for e in inventory.entries] == ["a"]
    assert inventory.torn == f"{journal}:3"
    assert f"{journal}:3: ignoring a torn last line" in caplog.text
    ca.issue(zone="z", kind="device", name="b")  # cuts the torn bytes off first
    assert [line["op"] for line in _lines(journal)] == ["journal", "add", "add"]
    assert Inventory.load(ca.directory).torn is None
    assert [e.name for e in ca.entries()] == ["a", "b"]


def _entry_line(ca: CertificateAuthority, **change: object) -> bytes:
    entry = ca.issue(zone="z", kind="device", name="x").entry.to_dict()
    return json.dumps({"op": "add", "entry": entry | change}).encode() + b"\n"


@pytest.mark.parametrize(("line", "message"), [
    (b"not json\n", "not a JSON journal line"),
    (b"[1, 2]\n", "an object with an 'op'"),
    (b"\n", "not a JSON journal line"),
    (b'{"op": "explode"}\n', "unknown journal operation 'explode'"),
    (b'{"op": "add", "entry": {"serial": 5}}\n', "bad 'serial'"),
    (b'{"op": "revoke", "serial": "ff", "revoked_at": "2026-01-01T00:00:00+00:00", '
     b'"reason": "superseded"}\n', "serial 'ff' is not in the inventory"),
    (b'{"op": "revoke", "serial": "ff", "revoked_at": "x", "reason": "removeFromCRL"}\n',
     "RFC 5280"),
    (b'{"op": "prune", "serials": "ff"}\n', "'serials' list"),
    (b'{"op": "prune", "serials": ["ff"]}\n', "serial 'ff' is not in the inventory"),
    (b'{"op": "crl", "crl_number": "3"}\n', "integer 'crl_number'"),
    ("duplicate", "is added twice"),
])
@pytest.mark.parametrize("last", [True, False], ids=["last", "followed"])
def test_a_malformed_line_is_an_error_naming_file_and_line(
        ca: CertificateAuthority, line: bytes | str, message: str, last: bool) -> None:
    first = ca.issue(zone="z", kind="device", name="a")
    journal = ca.directory / JOURNAL_NAME
    if line == "duplicate":
        line = json.dumps({"op": "add", "entry": first.entry.to_dict()}).encode() + b"\n"
    assert isinstance(line, bytes)
    with journal.open("ab") as handle:
        handle.write(line)
        if not last:
            handle.write(b'{"op": "crl", "crl_number": 9}\n')
    content = journal.read_bytes()
    with pytest.raises(CACorrupt, match=rf"{JOURNAL_NAME}:3: .*{message}"):
        Inventory.load(ca.directory)
    with pytest.raises(CACorrupt, match=rf"{JOURNAL_NAME}:3: "):
        CertificateAuthority.open(ca.directory).issue(zone="z", kind="device", name="b")
    with pytest.raises(CACorrupt, match=rf"{JOURNAL_NAME}:3: "):
        ca.issue(zone="z", kind="device", name="b")  # the cached copy rereads the line too
    assert journal.read_bytes() == content  # nothing was dropped or overwritten


@pytest.mark.parametrize(("header", "message"), [
    (b'{"op": "add", "entry": {}}\n', r":1: not a version 1 zonegate inventory journal"),
    (b'{"op": "journal", "version": 9, "generation": 1}\n', r":1: not a version 1"),
    (b'{"op": "journal", "version": 1, "generation": 5}\n', r": the journal continues generation 5",
     ),
])
def test_a_bad_journal_header_is_an_error(ca: CertificateAuthority, header: bytes,
                                          message: str) -> None:
    (ca.directory / JOURNAL_NAME).write_bytes(header + b'{"op": "crl", "crl_number": 9}\n')
    with pytest.raises(CACorrupt, match=f"{JOURNAL_NAME}{message}"):
        Inventory.load(ca.directory)


def test_a_journal_of_an_older_generation_is_ignored(ca: CertificateAuthority) -> None:
    """What a crash between the snapshot rename and the journal removal leaves."""
    ca.issue(zone="z", kind="device", name="a")
    stale = (ca.directory / JOURNAL_NAME).read_bytes()
    Inventory.load(ca.directory).compact()
    (ca.directory / JOURNAL_NAME).write_bytes(stale)
    assert [e.name for e in Inventory.load(ca.directory).entries] == ["a"]
    ca.issue(zone="z", kind="device", name="b")  # starts a fresh journal over the stale one
    assert _lines(ca.directory / JOURNAL_NAME)[0]["generation"] == 2
    assert [e.name for e in Inventory.load(ca.directory).entries] == ["a", "b"]


# -- crashes: a child process SIGKILLs itself at a chosen point ---------------------------

_CRASH = """
import os, signal, sys
from datetime import UTC, datetime
from pathlib import Path
import pki.inventory
from pki.authority import CertificateAuthority

directory, point = Path(sys.argv[1]), sys.argv[2]
pki.inventory.COMPACT_MIN_RECORDS = int(sys.argv[3])

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def after(name):
    real = getattr(pki.inventory, name)
    def hooked(*args, **kwargs):
        real(*args, **kwargs)
        die()
    setattr(pki.inventory, name, hooked)

if point == "mid-journal-write":
    real_pwrite = os.pwrite
    def half(fd, data, offset):
        real_pwrite(fd, data[: len(data) // 2], offset)
        os.fsync(fd)
        die()
    os.pwrite = half
else:
    after({"after-journal-append": "write_journal", "after-snapshot-rename": "atomic_write",
           "after-archive-append": "append_durably"}[point])
CertificateAuthority.open(directory).issue(zone="z", kind="device", name="crash")
sys.exit(3)  # the hook did not fire
"""


def _crash(ca: CertificateAuthority, point: str, compact_every: int = 1024) -> None:
    proc = subprocess.run([sys.executable, "-c", _CRASH, str(ca.directory), point,
                           str(compact_every)], cwd=ROOT, timeout=60, check=False)
    assert proc.returncode == -signal.SIGKILL


def _names(ca: CertificateAuthority) -> list[str]:
    return [e.name for e in Inventory.load(ca.directory).entries]


def test_killed_mid_journal_write(ca: CertificateAuthority) -> None:
    ca.issue(zone="z", kind="device", name="a")
    _crash(ca, "mid-journal-write")
    inventory = Inventory.load(ca.directory)
    assert _names(ca) == ["a"] and inventory.torn == f"{ca.directory / JOURNAL_NAME}:3"
    ca.issue(zone="z", kind="device", name="b")
    assert _names(ca) == ["a", "b"]
    assert len(_lines(ca.directory / JOURNAL_NAME)) == 3  # every line parses


def test_killed_after_the_journal_append(ca: CertificateAuthority) -> None:
    ca.issue(zone="z", kind="device", name="a")
    _crash(ca, "after-journal-append")
    assert _names(ca) == ["a", "crash"]  # durable although never handed out: harmless
    ca.issue(zone="z", kind="device", name="b")
    assert _names(ca) == ["a", "crash", "b"]


def test_killed_between_snapshot_rename_and_journal_removal(
        ca: CertificateAuthority) -> None:
    for name in ("a", "b", "c"):
        ca.issue(zone="z", kind="device", name=name)
    _crash(ca, "after-snapshot-rename", compact_every=4)  # the 4th change compacts
    assert _snapshot(ca)["generation"] == 2
    assert _lines(ca.directory / JOURNAL_NAME)[0]["generation"] == 1  # left behind, stale
    assert _names(ca) == ["a", "b", "c", "crash"]  # each exactly once
    ca.issue(zone="z", kind="device", name="d")
    assert _lines(ca.directory / JOURNAL_NAME)[0]["generation"] == 2
    assert _names(ca) == ["a", "b", "c", "crash", "d"]


def test_killed_between_archive_append_and_journal_append(ca: CertificateAuthority) -> None:
    old = ca.issue(zone="z", kind="device", name="old",
                   now=datetime.now(UTC) - timedelta(days=10))
    _crash(ca, "after-archive-append")
    assert _names(ca) == ["old"]  # the prune was not recorded: still live, and archived
    ca.issue(zone="z", kind="device", name="new")
    lines = (ca.directory / ARCHIVE_NAME).read_bytes().splitlines()
    assert [json.loads(line)["serial"] for line in lines] == [old.entry.serial] * 2
    assert [e.name for e in ca.entries(archived=True)] == ["old", "new"]
    assert _names(ca) == ["new"]


def test_a_running_reader_is_not_confused_by_a_compaction(
        ca: CertificateAuthority, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lock-free reader that read the old snapshot, then finds the new journal."""
    ca.issue(zone="z", kind="device", name="a")
    real = pki.inventory.read_journal
    fired = []

    def compact_first(path: Path, **kwargs: int) -> object:
        if not fired:
            fired.append(True)
            monkeypatch.setattr(pki.inventory, "COMPACT_MIN_RECORDS", 1)
            CertificateAuthority.open(ca.directory).issue(zone="z", kind="device", name="b")
        return real(path, **kwargs)

    monkeypatch.setattr(pki.inventory, "read_journal", compact_first)
    assert _names(ca) == ["a", "b"]  # reread after the snapshot changed under the reader
    assert fired
