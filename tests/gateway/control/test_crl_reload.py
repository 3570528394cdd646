"""The control plane follows its CA's CRL while running: a monitor certificate revoked
through the control plane's own API can no longer post alerts, without a restart. It
also serves a renewed server certificate to new connections.

Before this, the control plane loaded its CRLs once at start-up, so the revoked monitor
kept ingesting (and quarantining devices, with auto-quarantine), and once the loaded CRL
passed its nextUpdate every client certificate was refused."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from pki.durable import atomic_write
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
    # refused at the handshake (tls.crl reloaded) or, when the new CRL's lastUpdate falls
    # in the same second as the old one's and OpenSSL keeps the old, by the verifier
    assert status in (None, 401)
    # a fresh certificate for the same service is unaffected
    assert _posts(stack, stack.pki.leaf("monitor"), 1000) == 201


def test_a_renewed_server_certificate_is_served_without_a_restart(own_stack: Stack) -> None:
    stack = own_stack
    assert stack.pki is not None
    cert, key = stack.pki.files / "control.crt", stack.pki.files / "control.key"
    before = _served_serial(stack)
    issued = stack.pki.ca.issue(zone="edge", kind="svc", name="control", usages=("server",),
                                dns_names=("localhost",), ip_addresses=("127.0.0.1",))
    assert issued.key_pem is not None
    atomic_write(key, issued.key_pem)  # as a renewal lands: a new file renamed over
    atomic_write(cert, issued.chain_pem)
    renewed = x509.load_pem_x509_certificates(issued.chain_pem)[0].serial_number
    assert renewed != before
    deadline = time.monotonic() + 30  # only bounds a failure: normally one 5 s refresh
    while _served_serial(stack) != renewed:
        assert time.monotonic() < deadline, "the control plane still serves the old one"
        time.sleep(0.2)


def _served_serial(stack: Stack) -> int:
    assert stack.pki is not None
    context = ssl.create_default_context(cafile=str(stack.pki.ca_dir / "ca.pem"))
    port = int(stack.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        return x509.load_der_x509_certificate(der).serial_number
