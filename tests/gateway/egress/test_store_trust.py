"""`egress.device_trust: store`: the proxy enforces the store's quarantines, and posts its
alerts to the control plane with a client certificate.

One real control plane (TLS, pki/, SQLite store) runs in the test; `zonegate egress run`
reads device trust from the same store and posts alerts to the control plane over mTLS.
An officer quarantines a terminal through the control plane's API and the proxy refuses
it within a few refresh intervals; released, it passes again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.config import ConfigError, parse_config
from gateway.store import DeviceObservation
from tests.gateway.control.conftest import Stack, running_stack, sqlite_store
from tests.gateway.egress.harness import (
    CAMERA_MAC,
    QUARANTINED_IP,
    QUARANTINED_MAC,
    SENSOR_IP,
    Deployment,
    deployment,
    start_proxy,
    stop_proxy,
)

_DEADLINE = 30.0  # seconds; guards a hang, the refresh interval is 0.2 s


def _config(d: Deployment, stack: Stack, store_url: str) -> Path:
    assert stack.pki is not None
    cert, key = stack.pki.leaf("monitor")  # the identity the control plane lists as ingester
    config = d.root / "egress-store.yaml"
    config.write_text(f"""\
trust_domain: city.example
policy:
  bundle: policies
  cache_ttl_seconds: null
  reload_interval_seconds: null
egress:
  ca: {{cert: egress-ca.crt, key: egress-ca.key}}
  root: ca/root.crt
  client_ca_dir: ca
  upstream_ca: ca/root.crt
  inventory: inventory.json
  device_trust: store
  trust_refresh_seconds: 0.2
  alerts_url: {stack.url}/api/alerts
  alerts_cert: {cert}
  alerts_key: {key}
  alerts_ca: {stack.pki.ca_dir / 'ca.pem'}
  alerts_spool: spool-store.ndjson
store: "{store_url}"
""")
    return config


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, Stack]]:
    tmp = tmp_path_factory.mktemp("egress-store")
    (tmp / "cp").mkdir()
    (tmp / "egress").mkdir()
    with sqlite_store(tmp / "cp") as store:
        now = datetime.now(UTC)
        for mac, ip in ((CAMERA_MAC, SENSOR_IP), (QUARANTINED_MAC, QUARANTINED_IP)):
            store.devices.upsert(DeviceObservation(id=mac, seen_at=now, mac=mac, ips=(ip,)),
                                 by="monitor")
        store.quarantine(QUARANTINED_MAC, "monitor: telnet_bruteforce", "monitor")
        store_url = f"sqlite:///{tmp / 'cp' / 'zonegate.db'}"
        with running_stack(tmp / "cp", store, backend="sqlite") as stack:
            for d in deployment(tmp / "egress"):
                proc, port = start_proxy(_config(d, stack, store_url))
                d.process, d.proxy_port = proc, port
                try:
                    yield d, stack
                finally:
                    stop_proxy(proc)


def _status(d: Deployment, source: str) -> tuple[int, str]:
    return d.curl(f"http://localhost:{d.http.port}/readings", source=source)


def _until(d: Deployment, source: str, want: int) -> tuple[int, str]:
    deadline = time.monotonic() + _DEADLINE
    while True:
        status, body = _status(d, source)
        if status == want or time.monotonic() > deadline:
            return status, body
        time.sleep(0.1)


def test_a_quarantine_in_the_store_is_enforced_and_the_alert_reaches_the_control_plane(
        both: tuple[Deployment, Stack]) -> None:
    d, stack = both
    status, body = _status(d, QUARANTINED_IP)
    assert status == 403, body
    assert '"device-quarantined"' in body
    deadline = time.monotonic() + _DEADLINE
    stored: list[str] = []
    while not stored and time.monotonic() < deadline:  # a worker thread posts it
        stored = [a.id for a in stack.store.alerts.list(limit=100).items
                  if a.rule_id == "egress_blocked" and a.source_ip == QUARANTINED_IP]
        time.sleep(0.1)
    assert stored, "the egress alert never reached the control plane over mTLS"
    assert not (d.root / "spool-store.ndjson").exists() or \
        not (d.root / "spool-store.ndjson").read_text().strip()


def test_an_officer_quarantines_through_the_control_plane_and_releases(
        both: tuple[Deployment, Stack]) -> None:
    d, stack = both
    status, body = _status(d, SENSOR_IP)
    assert status == 200, body
    officer = stack.client("officer")
    answer = officer.post(f"/api/devices/{CAMERA_MAC}/quarantine",
                          json={"reason": "officer: suspicious uploads"})
    assert answer.status_code == 201, answer.text
    status, body = _until(d, SENSOR_IP, 403)
    assert status == 403 and '"device-quarantined"' in body, body
    assert officer.post(f"/api/devices/{CAMERA_MAC}/release").status_code == 200
    status, body = _until(d, SENSOR_IP, 200)
    assert status == 200, body


@pytest.mark.parametrize(("egress", "message"), [
    ("  device_trust: store\n  quarantine_file: q.json\n", "quarantine_file would be ignored"),
    ("  device_trust: database\n", "device_trust"),
    ("  alerts_url: http://127.0.0.1:1/a\n  alerts_ca: ca.pem\n", "need an https:// alerts_url"),
    ("  alerts_cert: c.pem\n  alerts_key: k.pem\n", "need alerts_url"),
    ("  alerts_url: https://127.0.0.1:1/a\n  alerts_cert: c.pem\n",
     "alerts_cert and alerts_key go together"),
    ("  trust_refresh_seconds: 0\n", "trust_refresh_seconds"),
])
def test_bad_egress_trust_and_alert_settings_are_refused(egress: str, message: str) -> None:
    text = ("trust_domain: city.example\negress:\n  ca: {cert: c.crt, key: c.key}\n"
            f"  root: r.crt\n{egress}")
    with pytest.raises(ConfigError, match=message):
        parse_config(text)
