"""The control plane follows its CA's CRL while running: a monitor certificate revoked
through the control plane's own API can no longer post alerts, without a restart.

Before this, the control plane loaded its CRLs once at start-up, so the revoked monitor
kept ingesting (and quarantining devices, with auto-quarantine), and once the loaded CRL
passed its nextUpdate every client certificate was refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from tests.gateway.control.conftest import Stack, running_stack, sqlite_store
from tests.gateway.control.test_alerts import alert

pytestmark = pytest.mark.slow


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[Stack]:
    """A control plane of its own: the revocation must not reach the module-wide one."""
    with sqlite_store(tmp_path) as store, \
            running_stack(tmp_path, store, backend="sqlite") as running:
        yield running


def _posts(stack: Stack, cert: tuple[Path, Path], n: int) -> int | None:
    """The status of an alert post with `cert`; None when the handshake refused it."""
    try:
        return stack.client(None, cert=cert).post(
            "/api/alerts", json=alert(n, event_id=f"evt-crl-{n}")).status_code
    except httpx.TransportError:
        return None


def test_a_monitor_revoked_through_the_api_can_no_longer_post(own_stack: Stack) -> None:
    stack = own_stack
    assert stack.pki is not None
    monitor = stack.pki.leaf("monitor")
    assert _posts(stack, monitor, 1) == 201
    serial = x509.load_pem_x509_certificates(monitor[0].read_bytes())[0].serial_number
    revoked = stack.client("officer").post(f"/api/certificates/{serial:x}/revoke",
                                           json={"reason": "keyCompromise"})
    assert revoked.status_code == 200, revoked.text
    deadline = time.monotonic() + 30  # only bounds a failure: normally one 5 s refresh
    n = 2
    while (status := _posts(stack, monitor, n)) == 201:
        assert time.monotonic() < deadline, "the revoked monitor still posts alerts"
        time.sleep(0.2)
        n += 1
    assert status is None  # refused at the handshake: tls.crl was reloaded
    # a fresh certificate for the same service is unaffected
    assert _posts(stack, stack.pki.leaf("monitor"), 1000) == 201
