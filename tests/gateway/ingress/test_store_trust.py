"""Device trust from the store (`ingress.device_trust: store`).

In process: `StoreDeviceSource` over a real SQLite store. As real processes: two
`zonegate serve --role ingress` replicas sharing one PostgreSQL schema both enforce a
quarantine written to the store and both lift it on release; a replica whose store breaks
keeps enforcing its last snapshot and says so in /readyz.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import psycopg
import pytest

from gateway.identity.types import PeerCertificate
from gateway.idp import DevIdP
from gateway.ingress.devices import StoreDeviceSource
from gateway.ingress.errors import DeviceTrustUnavailable
from gateway.store import DeviceObservation, Store
from gateway.store.trust import StoreTrustSource
from tests.gateway.ingress.conftest import Upstream
from tests.gateway.ingress.test_serve import Served, _free_port
from tests.gateway.store.conftest import PG_DB, PG_HOST, PG_PORT, pg_user

POLICIES = Path(__file__).parents[3] / "policies"
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
CAM = PeerCertificate(spiffe_id="spiffe://city.example/zone/transport/device/cam-7",
                      zone="transport", kind="device", name="cam-7",
                      fingerprint="sha256:" + "ab" * 32)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'zonegate.db'}") as store:
        store.migrate()
        yield store


def _observe(store: Store, device: str, ip: str) -> None:
    store.devices.upsert(DeviceObservation(id=device, seen_at=NOW, ips=(ip,)), "monitor")


def test_store_source_follows_the_store(sqlite_store: Store) -> None:
    trust = StoreTrustSource(sqlite_store.quarantines, trust_any_device_id=True)
    source = StoreDeviceSource(trust)
    with pytest.raises(DeviceTrustUnavailable, match="not loaded"):
        source.lookup(CAM, "10.0.0.7", NOW)  # fail closed before the first snapshot
    assert trust.refresh()
    assert source.lookup(CAM, "10.0.0.7", NOW).trust == "trusted"
    assert source.lookup(None, "10.0.0.7", NOW).trust == "unknown"

    _observe(sqlite_store, "cam-7", "10.0.0.7")
    sqlite_store.quarantine("cam-7", "telnet brute force", "officer",
                            until=datetime.now(UTC) + timedelta(hours=1))
    assert trust.refresh()
    by_cert = source.lookup(CAM, "192.0.2.1", datetime.now(UTC))
    assert (by_cert.trust, by_cert.id, by_cert.quarantine_reason) == (
        "quarantined", "cam-7", "telnet brute force")
    by_ip = source.lookup(None, "10.0.0.7", datetime.now(UTC))  # no certificate, same host
    assert (by_ip.trust, by_ip.id) == ("quarantined", "cam-7")
    assert source.lookup(None, "not-an-ip", datetime.now(UTC)).trust == "unknown"
    assert source.status()["quarantined_devices"] == 1


def test_store_source_gives_the_inventory_class_to_certified_devices_only(
        sqlite_store: Store) -> None:
    sqlite_store.devices.upsert(DeviceObservation(
        id="cam-7", seen_at=NOW, ips=("10.0.0.7",), device_class="traffic-sensor"), "officer")
    _observe(sqlite_store, "meter-1", "10.0.0.8")  # no class known
    assert sqlite_store.devices.classes() == {"cam-7": "traffic-sensor"}
    trust = StoreTrustSource(sqlite_store.quarantines, trust_any_device_id=True,
                             devices=sqlite_store.devices)
    assert trust.refresh()
    source = StoreDeviceSource(trust)
    assert source.lookup(CAM, "10.0.0.7", NOW).posture == {"class": "traffic-sensor"}
    # the same host without the certificate: an IP is easy to claim, so no class
    assert source.lookup(None, "10.0.0.7", NOW).posture is None
    without_classes = StoreDeviceSource(StoreTrustSource(sqlite_store.quarantines))
    assert without_classes.trust.refresh()
    assert without_classes.lookup(CAM, "10.0.0.7", NOW).posture is None


# -- real processes --------------------------------------------------------------------


@pytest.fixture
def pg_url(require_service: Callable[[str, int], None]) -> Iterator[tuple[str, str]]:
    """(URL a gateway config can carry, schema) of a migrated PostgreSQL schema."""
    require_service("PostgreSQL", PG_PORT)
    user = pg_user()
    schema = f"zg_test_{os.getpid()}_{uuid.uuid4().hex[:8]}_replicas"
    base = f"postgresql://{user}@{PG_HOST}:{PG_PORT}/{PG_DB}"
    with Store.open(base, schema=schema) as store:
        store.migrate()
    # libpq's `options` carries the schema in the URL, as an operator would write it
    yield f"{base}?options=-csearch_path%3D{schema}", schema
    with psycopg.connect(host=PG_HOST, port=PG_PORT, dbname=PG_DB, user=user,
                         autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _config(path: Path, port: int, store: str, idp: DevIdP, upstream: Upstream) -> Path:
    path.write_text(f"""
trust_domain: city.example
listen: {{ingress: "127.0.0.1:{port}"}}
identity:
  oidc:
    - {{issuer: "{idp.issuer}", audience: zonegate, jwks_uri: "{idp.jwks_uri}"}}
policy: {{engine: embedded, bundle: "{POLICIES}", cache_ttl_seconds: null}}
ingress: {{device_trust: store, trust_refresh_seconds: 0.2}}
store: "{store}"
zones:
  - {{name: open, prefix: /zones/open/, upstream: "{upstream.url}", level: L1}}
""")
    return path


async def _start(config: Path, audit: Path) -> Served:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sys; from gateway.cli import main; sys.exit(main())",
        "serve", "--config", str(config), "--role", "ingress", "--audit-log", str(audit),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    served = Served(proc)
    await served.wait_for("listening")
    return served


async def _stop(served: Served) -> None:
    if served.proc.returncode is None:
        served.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(served.proc.wait(), 60)


async def _until(client: aiohttp.ClientSession, url: str, headers: dict[str, str],
                 status: int, limit: float = 30) -> dict[str, object]:
    """Poll until `url` answers `status` (the limit bounds a failure, it is no SLO)."""
    last = ""
    try:
        async with asyncio.timeout(limit):
            while True:
                async with client.get(url, headers=headers) as resp:
                    if resp.status == status:
                        body: dict[str, object] = await resp.json()
                        return body
                    last = f"{resp.status} {await resp.text()}"
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"{url} never answered {status}; last: {last}") from None


async def test_replicas_on_postgresql_share_quarantines(
        tmp_path: Path, pg_url: tuple[str, str], idp: DevIdP, upstream: Upstream) -> None:
    url, schema = pg_url
    ports = [_free_port(), _free_port()]
    replicas = [await _start(_config(tmp_path / f"g{i}.yaml", port, url, idp, upstream),
                             tmp_path / f"audit{i}.jsonl") for i, port in enumerate(ports)]
    try:
        token = {"Authorization": f"Bearer {idp.mint(user='doctor')}"}
        async with aiohttp.ClientSession() as client:
            urls = [f"http://127.0.0.1:{port}/zones/open/records/1" for port in ports]
            for each in urls:
                await _until(client, each, token, 200)
            # the monitor has seen this workstation on 127.0.0.1; an officer quarantines it
            with Store.open(url.split("?")[0], schema=schema) as store:
                _observe(store, "ws-1", "127.0.0.1")
                store.quarantine("ws-1", "beaconing to a DGA domain", "officer")
                for each in urls:
                    denied = await _until(client, each, token, 403)
                    assert "device-quarantined" in denied["reasons"]  # type: ignore[operator]
                store.release("ws-1", "officer")
            for each in urls:
                await _until(client, each, token, 200)
            for port in ports:
                async with client.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    ready = await resp.json()
                    assert resp.status == 200 and ready["device_trust"]["loaded"] is True
    finally:
        for served in replicas:
            await _stop(served)


async def test_broken_store_keeps_the_last_snapshot(
        tmp_path: Path, idp: DevIdP, upstream: Upstream) -> None:
    db = tmp_path / "zonegate.db"
    with Store.open(f"sqlite:///{db}") as store:
        store.migrate()
        _observe(store, "ws-1", "127.0.0.1")
        store.quarantine("ws-1", "port scan", "officer")
    port = _free_port()
    served = await _start(_config(tmp_path / "g.yaml", port, f"sqlite:///{db}", idp, upstream),
                          tmp_path / "audit.jsonl")
    try:
        token = {"Authorization": f"Bearer {idp.mint(user='doctor')}"}
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as client:
            await _until(client, f"{base}/zones/open/records/1", token, 403)
            with sqlite3.connect(db) as conn:  # the store loses its quarantine table
                conn.execute("DROP TABLE quarantines")
            async with asyncio.timeout(30):
                while True:
                    async with client.get(f"{base}/readyz") as resp:
                        ready = await resp.json()
                    if ready["device_trust"]["last_error"] is not None:
                        break
                    await asyncio.sleep(0.1)
            assert resp.status == 200 and ready["device_trust"]["stale_since"] is not None
            # still enforced from the last snapshot
            denied = await _until(client, f"{base}/zones/open/records/1", token, 403)
            assert "device-quarantined" in denied["reasons"]  # type: ignore[operator]
    finally:
        await _stop(served)
