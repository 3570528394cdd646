"""Scale-out: two ingress replicas and a control plane on one PostgreSQL, behind nginx.

Every piece is real and its own process except the dev IdP and the sample upstream (in
the test's event loop): `zonegate serve --role control` with the store on PostgreSQL,
publishing the active policy as a bundle signed with its key; two `zonegate serve --role
ingress` replicas, each with its own audit log, reading quarantines from the same store
(`device_trust: store`) and hot-reloading the published bundle (verified with the public
key); nginx terminating TLS, verifying the device certificate and forwarding it as XFCC to
an upstream of both replicas. Certificates come from a pki/ CA.

Through nginx and straight to each replica: a device is allowed; an officer quarantines it
through the control-plane API and both replicas deny it (`device-quarantined`); the release
lets it back in; an officer uploads a policy revision that grants the traffic engineers
POST on the open zone and both replicas load it (/readyz `policy_revision`) and enforce it.
Everything stops on SIGTERM with exit 0 and each replica's audit chain verifies.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.audit import verify_log
from gateway.idp import DevIdP
from gateway.store import DeviceObservation, Store
from tests.gateway.ingress.conftest import Upstream
from tests.scaleout.conftest import (
    CLI,
    DEVICE,
    Deployment,
    Process,
    free_port,
    policy_files,
    until,
)

pytestmark = pytest.mark.slow
RECORD = "/zones/open/records/1"
REPORT = "/zones/open/reports"
Reply = tuple[int, dict[str, Any], str]
Check = Callable[[], Awaitable[tuple[bool, str]]]


async def call(session: aiohttp.ClientSession, method: str, url: str,
               headers: dict[str, str], body: object = None) -> Reply:
    """(status, JSON body or {}, the replica nginx chose or "")."""
    async with session.request(method, url, headers=headers, json=body) as resp:
        try:
            parsed = await resp.json(content_type=None)
        except ValueError:
            parsed = {"text": await resp.text()}
        return resp.status, parsed if isinstance(parsed, dict) else {"body": parsed}, \
            resp.headers.get("X-Served-By", "")


async def test_quarantine_and_policy_reach_both_replicas_behind_nginx(
        tmp_path: Path, pg_store_url: str, idp: DevIdP, upstream: Upstream,
        require_tool: Callable[[str], str]) -> None:
    nginx = require_tool("nginx")
    deploy = Deployment.create(tmp_path, pg_store_url, idp, upstream.url)
    with Store.open(pg_store_url) as store:  # the monitor has seen the camera: inventoried
        store.devices.upsert(DeviceObservation(id=DEVICE, seen_at=datetime.now(UTC),
                                               ips=("10.0.0.7",)), "monitor")
    control_port, edge_port = free_port(), free_port()
    replica_ports = [free_port(), free_port()]
    control_url = f"https://127.0.0.1:{control_port}"
    edge = f"https://127.0.0.1:{edge_port}"
    replicas = [f"https://127.0.0.1:{port}" for port in replica_ports]
    audits = [tmp_path / f"audit-{i}.jsonl" for i in range(2)]
    processes: list[Process] = []
    timings: dict[str, float] = {}  # printed for the record (pytest -s), never asserted
    officer = {"Authorization": f"Bearer {idp.mint(user='officer')}"}
    doctor = {"Authorization": f"Bearer {idp.mint(user='doctor')}"}
    engineer = {"Authorization": f"Bearer {idp.mint(user='engineer')}"}

    async with AsyncExitStack() as stack:
        plain = await stack.enter_async_context(aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=deploy.client_tls())))
        device = await stack.enter_async_context(aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=deploy.client_tls(device=True))))
        try:
            # -- the control plane, and the first policy revision through its API ----------
            control = await Process.start("control", [
                *CLI, "serve", "--config", str(deploy.control_config(control_port)),
                "--role", "control"], tmp_path / "control.log")
            processes.append(control)

            async def control_up() -> tuple[bool, str]:
                status, body, _ = await call(plain, "GET", f"{control_url}/healthz", {})
                return status == 200, f"{status} {body}"

            await until(control_up, "the control plane answers /healthz", processes)
            status, body, _ = await call(plain, "POST", f"{control_url}/api/policies/files",
                                         officer, {"files": policy_files(False),
                                                   "revision": "v1"})
            assert (status, body["revision"]["status"]) == (201, "active"), body
            with tarfile.open(deploy.published) as archive:  # published, and signed
                assert "/.signatures.json" in archive.getnames()

            # -- two ingress replicas on the published bundle, nginx in front ----------------
            for i, port in enumerate(replica_ports):
                processes.append(await Process.start(f"gateway-{i}", [
                    *CLI, "serve", "--config", str(deploy.gateway_config(f"gateway-{i}", port)),
                    "--role", "ingress", "--audit-log", str(audits[i])],
                    tmp_path / f"gateway-{i}.log"))
            for replica in replicas:
                await until(_revision(plain, replica, "v1"), f"{replica} ready on v1", processes)
            processes.append(await Process.start("nginx", [
                nginx, "-e", str(tmp_path / "nginx" / "startup.log"), "-p", str(tmp_path),
                "-c", str(deploy.nginx_config(edge_port, replica_ports))],
                tmp_path / "nginx.log"))
            await until(_revision(plain, edge, "v1"), "nginx forwards /readyz", processes)

            # -- allowed everywhere; nginx spreads requests over both replicas ------------
            served_by = set()
            for _ in range(4):
                status, body, by = await call(device, "GET", f"{edge}{RECORD}", doctor)
                assert status == 200, body
                served_by.add(by)
            assert served_by == {f"127.0.0.1:{port}" for port in replica_ports}
            for replica in replicas:
                assert (await call(device, "GET", f"{replica}{RECORD}", doctor))[0] == 200

            # -- quarantine through the control plane: both replicas deny the device -----
            status, body, _ = await call(
                plain, "POST", f"{control_url}/api/devices/{DEVICE}/quarantine", officer,
                {"reason": "telnet brute force seen by the monitor"})
            assert status == 201, body
            waited = [await until(_answers(device, f"{base}{RECORD}", doctor, 403,
                                           "device-quarantined"),
                                  f"{base} denies the quarantined device", processes)
                      for base in (*replicas, edge, edge)]
            timings["quarantine -> denied on both replicas"] = sum(waited)
            # the person is not quarantined: without the device they still get in
            for base in (*replicas, edge):
                assert (await call(plain, "GET", f"{base}{RECORD}", doctor))[0] == 200
            status, body, _ = await call(
                plain, "POST", f"{control_url}/api/devices/{DEVICE}/release", officer)
            assert status == 200, body
            for base in (*replicas, edge, edge):
                await until(_answers(device, f"{base}{RECORD}", doctor, 200),
                            f"{base} lets the released device in", processes)

            # -- a policy revision activated through the API reaches both replicas ------
            for base in (*replicas, edge):
                status, body, _ = await call(device, "POST", f"{base}{REPORT}", engineer,
                                             {"sensor": "loop-12", "count": 41})
                assert (status, body.get("reasons")) == (403, ["method-not-permitted"]), body
            status, body, _ = await call(plain, "POST", f"{control_url}/api/policies/files",
                                         officer, {"files": policy_files(True),
                                                   "revision": "v2"})
            assert (status, body["revision"]["status"]) == (201, "active"), body
            timings["activation -> v2 on both replicas"] = sum(
                [await until(_revision(plain, replica, "v2"), f"{replica} loads v2", processes)
                 for replica in replicas])
            for base in (*replicas, edge, edge):
                status, body, _ = await call(device, "POST", f"{base}{REPORT}", engineer,
                                             {"sensor": "loop-12", "count": 41})
                assert status == 200, body
            status, body, _ = await call(plain, "GET", f"{control_url}/api/policies/active",
                                         officer)
            assert body["revision"] == "v2"
        finally:
            codes = {p.name: await p.stop() for p in reversed(processes)}
    assert codes == {p.name: 0 for p in processes}, "\n".join(p.tail() for p in processes)
    print("".join(f"\n{what}: {seconds:.2f} s" for what, seconds in timings.items()))

    # -- each replica's audit chain is intact and shows what it enforced ---------------
    for audit in audits:
        report = verify_log(audit)
        assert report.records > 0 and not report.torn_tail
        events = [json.loads(line)["event"] for line in audit.read_bytes().splitlines()
                  if json.loads(line)["kind"] == "request"]
        assert any(e["device"] == DEVICE and "device-quarantined" in e["reasons"]
                   for e in events)
        assert any(e["method"] == "POST" and e["allow"] and e["policy_revision"] == "v2"
                   for e in events)


def _revision(session: aiohttp.ClientSession, base: str, revision: str) -> Check:
    async def check() -> tuple[bool, str]:
        status, body, _ = await call(session, "GET", f"{base}/readyz", {})
        return status == 200 and body.get("policy_revision") == revision, f"{status} {body}"
    return check


def _answers(session: aiohttp.ClientSession, url: str, headers: dict[str, str], status: int,
             reason: str | None = None) -> Check:
    async def check() -> tuple[bool, str]:
        got, body, by = await call(session, "GET", url, headers)
        done = got == status and (reason is None or reason in body.get("reasons", []))
        return done, f"{got} {body} via {by or 'direct'}"
    return check
