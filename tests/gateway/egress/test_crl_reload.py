"""The running egress proxy follows the CRL in `client_ca_dir`: a terminal revoked with
`zonegate pki revoke` after the proxy started is refused from the next look on, the other
terminals keep passing, and a broken CRL file never lets the revoked one back in.

Before this, the proxy read the CRL once at start-up: a revoked camera kept its egress
until a restart, and after the CRL's nextUpdate (48 h) every certificate was refused."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from cryptography import x509

from tests.gateway.egress.harness import (
    Deployment,
    deployment,
    start_proxy,
    stop_proxy,
    write_config,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def revocable(tmp_path: Path) -> Iterator[tuple[Deployment, LogTail]]:
    """A deployment of its own: revoking cam-7 must not touch the module-wide one."""
    for d in deployment(tmp_path):
        d.ca.issue(zone="transport", kind="device", name="cam-8").write(
            tmp_path / "cam-8.crt", key_out=tmp_path / "cam-8.key",
            chain_out=tmp_path / "cam-8-chain.crt")
        data = tmp_path / "policies" / "data" / "egress.json"
        doc = json.loads(data.read_text())
        doc["devices"]["cam-8"] = "camera"
        data.write_text(json.dumps(doc))
        proc, port = start_proxy(write_config(d, extra="  crl_refresh_seconds: 0.5\n"))
        d.process, d.proxy_port = proc, port
        assert proc.stderr is not None
        try:
            yield d, LogTail(proc.stderr)
        finally:
            stop_proxy(proc)


def _get(d: Deployment, device: str) -> tuple[int, str]:
    return d.curl(f"https://localhost:{d.https.port}/v1/status",
                  "--cert", str(d.root / f"{device}-chain.crt"),
                  "--key", str(d.root / f"{device}.key"))


def _refused_as_revoked(d: Deployment, device: str) -> bool:
    status, body = _get(d, device)
    if status == 200:
        return False
    assert status == 403, body
    doc = json.loads(body)
    assert doc["reasons"] == ["device-certificate-invalid"]
    assert doc["detail"] == "cert-revoked"
    return True


def test_a_terminal_revoked_while_running_is_refused(
        revocable: tuple[Deployment, LogTail]) -> None:
    d, log = revocable
    assert _get(d, "cam-7")[0] == 200 and _get(d, "cam-8")[0] == 200
    serial = x509.load_pem_x509_certificate((d.root / "cam-7.crt").read_bytes()).serial_number
    d.ca.revoke(serial, "keyCompromise")  # rewrites ca/crl.pem
    deadline = time.monotonic() + 30  # only bounds a failure; normally one refresh
    while not _refused_as_revoked(d, "cam-7"):
        assert time.monotonic() < deadline, "the revoked terminal still passes"
        time.sleep(0.2)
    assert _get(d, "cam-8")[0] == 200  # the others are unaffected

    assert json.loads(log.until("crl reloaded"))["check"] == "verifier"

    # a broken file keeps the CRL in force: cam-7 stays refused, cam-8 passes
    (d.root / "ca" / "crl.pem").write_bytes(b"-----BEGIN X509 CRL-----\nAAAA\n"
                                            b"-----END X509 CRL-----\n")
    failed = json.loads(log.until("crl reload failed"))
    assert failed["level"] == "error" and failed["crl"].endswith("crl.pem")
    assert _refused_as_revoked(d, "cam-7")
    assert _get(d, "cam-8")[0] == 200


class LogTail:
    """The proxy's stderr, read by a thread of its own: a buffered text pipe can hold
    lines that select() no longer reports."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in iter(stream.readline, ""):
            self._lines.put(line)

    def until(self, message: str, limit: float = 30) -> str:
        """The next line with `message` (the limit only bounds a hang)."""
        deadline = time.monotonic() + limit
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if message in line:
                return line
        raise AssertionError(f"no {message!r} in the proxy's log within {limit} s")
