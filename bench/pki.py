"""PKI throughput: certificates issued and verified per second, with OpenSSL beside them.

Rows:
- issue: `CertificateAuthority.issue` end to end (key generation, signing, locked inventory
  change: one fsynced journal line), with an empty, a 2,000- and a 20,000-entry inventory;
- issue, fresh CA object: `CertificateAuthority.open` + `issue` each time, as one
  `zonegate pki issue` run does: it must read the whole inventory once (20,000 entries);
- compact / load: rewriting the 20,000-entry snapshot (once per at least 20,000 changes)
  and reading it;
- verify: `CertificateVerifier.verify` of a valid client certificate (issuer signature,
  SPIFFE rules, cryptography's path validation, CRL lookup);
- openssl verify: one `openssl verify -crl_check` process over many certificate files
  (same checks minus SPIFFE), so process start-up is amortised;
- openssl speed: raw ECDSA P-256 sign/verify operations, the ceiling for both.

Run: `.venv/bin/python -m bench pki` (about 25 s).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from bench._report import report
from pki.authority import CertificateAuthority
from pki.durable import ca_lock
from pki.inventory import Inventory
from pki.verify import CertificateVerifier

SECONDS = 2.0


def _rate(action: Callable[[], object], seconds: float = SECONDS) -> tuple[float, int]:
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        action()
        count += 1
    return count / (time.perf_counter() - start), count


def _prefill(ca: CertificateAuthority, size: int) -> None:
    """Grow the inventory to `size` entries without issuing each (the point is its size)."""
    template = ca.issue(zone="bench", kind="device", name="template").entry
    with ca_lock(ca.directory):
        inventory = Inventory.load(ca.directory)
        for i in range(size - len(inventory.entries)):
            inventory.add(replace(template, serial=f"{size:x}0{i:08x}", name=f"pre-{i}"))
        inventory.compact()


def _issue_rate(ca: CertificateAuthority, prefill: int) -> tuple[float, int]:
    if prefill:
        _prefill(ca, prefill)
        # the prefill was another writer's compaction: the first change rereads everything
        # (that cost is the "load inventory" row); time the steady state after it
        ca.issue(zone="bench", kind="device", name=f"warm-{prefill}")
    serial = iter(range(10**9))
    return _rate(lambda: ca.issue(zone="bench", kind="device", name=f"d-{next(serial)}"))


def _openssl_verify(ca: CertificateAuthority, work: Path, count: int) -> tuple[float, int]:
    openssl = shutil.which("openssl")
    if openssl is None:
        return 0.0, 0
    files = []
    for i in range(count):
        issued = ca.issue(zone="bench", kind="device", name=f"o-{i}")
        path = work / f"o-{i}.pem"
        path.write_bytes(issued.certificate_pem)
        files.append(str(path))
    command = [openssl, "verify", "-CAfile", str(ca.directory / "root.crt"), "-untrusted",
               str(ca.directory / "intermediate.crt"), "-CRLfile", str(ca.crl_path),
               "-crl_check", "-purpose", "sslclient", *files]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    if result.returncode != 0 or result.stdout.count(": OK") != count:
        raise RuntimeError(f"openssl verify disagreed: {result.stdout[-300:]}{result.stderr}")
    return count / elapsed, count


def _openssl_speed() -> tuple[float, float]:
    openssl = shutil.which("openssl")
    if openssl is None:
        return 0.0, 0.0
    result = subprocess.run([openssl, "speed", "-seconds", "2", "ecdsap256"],
                            capture_output=True, text=True, timeout=60)
    match = re.search(r"256 bits ecdsa \(nistp256\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)",
                      result.stdout)
    if match is None:
        return 0.0, 0.0
    return float(match.group(1)), float(match.group(2))


def _row(operation: str, per_second: float, samples: int | None) -> dict[str, object]:
    return {"operation": operation, "per_second": per_second, "us_each": 1e6 / per_second,
            "samples": samples}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="zonegate-bench-pki-") as tmp:
        work = Path(tmp)
        ca = CertificateAuthority.init(work / "ca", "city.example")
        verifier = CertificateVerifier.from_ca_dir(ca.directory)
        leaf = ca.issue(zone="bench", kind="device", name="v").certificate
        verify_rate, n_verify = _rate(lambda: verifier.verify(leaf))
        openssl_rate, n_openssl = _openssl_verify(ca, work, 400)
        issue_small, n_small = _issue_rate(ca, 0)
        issue_mid, n_mid = _issue_rate(ca, 2_000)
        issue_large, n_large = _issue_rate(ca, 20_000)
        serial = iter(range(10**9))
        issue_fresh, n_fresh = _rate(lambda: CertificateAuthority.open(ca.directory).issue(
            zone="bench", kind="device", name=f"f-{next(serial)}"))
        inventory_size = len(ca.entries())
        load_rate, n_load = _rate(lambda: Inventory.load(ca.directory))
        with ca_lock(ca.directory):
            compact_rate, n_compact = _rate(Inventory.load(ca.directory).compact)
    sign, verify = _openssl_speed()
    rows: list[dict[str, object]] = [_row(name, rate, samples) for name, rate, samples in (
        ("issue (inventory < 1,000)", issue_small, n_small),
        ("issue (inventory 2,000)", issue_mid, n_mid),
        ("issue (inventory 20,000)", issue_large, n_large),
        ("issue, fresh CA object (inventory 20,000)", issue_fresh, n_fresh),
        ("load inventory (20,000)", load_rate, n_load),
        ("compact inventory (20,000)", compact_rate, n_compact),
        ("verify (zonegate)", verify_rate, n_verify),
    )]
    if openssl_rate:
        rows.append(_row("openssl verify -crl_check", openssl_rate, n_openssl))
    if sign:
        rows.append(_row("openssl speed ECDSA P-256 sign", sign, None))
        rows.append(_row("openssl speed ECDSA P-256 verify", verify, None))
    report("pki", rows, title="PKI: certificates issued and verified per second", notes=[
        "issue = key generation + signing + locked inventory change (one fsynced journal line)",
        "compaction runs once the journal holds as many changes as the snapshot has entries",
        f"the inventory held {inventory_size} entries at the end of the larger run",
        "openssl verify: one process over 400 files (same chain/CRL checks, no SPIFFE rules)",
    ])


if __name__ == "__main__":
    main()
