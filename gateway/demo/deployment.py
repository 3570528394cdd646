"""Start the whole demo deployment on loopback, in order, and stop it in reverse.

    PKI → store (SQLite) → dev IdP → zone upstreams → gateway → control plane (if built)

The IdP and the upstreams are in-process aiohttp servers (real HTTP on loopback); the
gateway and the control plane are `zonegate serve` children. Each is ready only when its
health endpoint answers; a component that does not start is named with its last log
lines. Leaving the `deploy()` block stops everything, also on Ctrl-C or an error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from gateway.demo.children import Child
from gateway.demo.control import control_plane_status, health_urls
from gateway.demo.credentials import DemoCredentials, issue_credentials
from gateway.demo.errors import StartupFailed
from gateway.demo.files import (
    StateFiles,
    serve_args,
    write_gateway_config,
    write_monitor_config,
)
from gateway.demo.ports import DemoPorts
from gateway.demo.records import ZONES, load_records
from gateway.demo.store_sync import migrate
from gateway.demo.upstreams import RunningUpstream, start_upstream
from gateway.idp.config import demo_config
from gateway.idp.errors import IdPError
from gateway.idp.server import DevIdP

_NOT_YET = "is not implemented yet"
_READY_LIMIT = 45.0  # seconds; the gateway compiles and tests the policy bundle first


class StartupReporter(Protocol):
    """Told when each component starts and is ready (the CLI shows progress)."""

    def starting(self, component: str) -> None:
        """`component` is being started."""

    def ready(self, component: str, detail: str, seconds: float) -> None:
        """`component` answered its health check after `seconds`."""


@dataclass(frozen=True, slots=True)
class Deployment:
    """What is running, and where."""

    files: StateFiles
    ports: DemoPorts
    credentials: DemoCredentials
    idp: DevIdP
    upstreams: dict[str, RunningUpstream]
    gateway: Child
    gateway_url: str
    control: Child | None
    control_url: str | None
    control_note: str  # why the control plane is not part of the demo, if it is not
    control_error: str | None  # the control plane should have started and did not


@asynccontextmanager
async def deploy(files: StateFiles, ports: DemoPorts,
                 reporter: StartupReporter) -> AsyncIterator[Deployment]:
    """Start every component; stop them all when the block ends."""
    async with AsyncExitStack() as stack:
        started = time.monotonic()
        reporter.starting("PKI")
        credentials = await asyncio.to_thread(issue_credentials, files.pki)
        reporter.ready("PKI", f"CA and {len(credentials.devices) + 1} certificates in "
                       f"{files.pki}", time.monotonic() - started)

        started = time.monotonic()
        reporter.starting("store")
        await asyncio.to_thread(migrate, files.store_url)
        write_monitor_config(files)
        reporter.ready("store", files.store_url, time.monotonic() - started)

        started = time.monotonic()
        reporter.starting("dev IdP")
        # the console (served by the control plane) signs in at the IdP from the browser
        idp_config = demo_config().model_copy(
            update={"cors_origins": (f"https://127.0.0.1:{ports.control}",)})
        try:
            idp = await stack.enter_async_context(
                DevIdP.start(idp_config, "127.0.0.1", ports.idp))
        except IdPError as exc:
            raise StartupFailed(f"the dev IdP did not start: {exc}") from None
        reporter.ready("dev IdP", idp.issuer, time.monotonic() - started)

        started = time.monotonic()
        reporter.starting("zone upstreams")
        upstreams: dict[str, RunningUpstream] = {}
        for zone in ZONES:
            upstream = await start_upstream(load_records(zone), ports.upstreams[zone])
            stack.push_async_callback(upstream.runner.cleanup)
            upstreams[zone] = upstream
        reporter.ready("zone upstreams",
                       ", ".join(f"{z} {u.url}" for z, u in upstreams.items()),
                       time.monotonic() - started)

        write_gateway_config(files, ports=ports, issuer=idp.issuer, jwks_uri=idp.jwks_uri,
                             upstreams={z: u.url for z, u in upstreams.items()},
                             credentials=credentials)
        started = time.monotonic()
        reporter.starting("gateway")
        gateway = await Child.start("the gateway (zonegate serve --role ingress)",
                                    serve_args(files, "ingress"), files.logs / "gateway.log")
        stack.push_async_callback(gateway.stop)
        gateway_url = f"https://127.0.0.1:{ports.gateway}"
        await gateway.wait_ready([f"{gateway_url}/readyz"], ca_bundle=credentials.ca_bundle,
                                 limit=_READY_LIMIT)
        reporter.ready("gateway", gateway_url, time.monotonic() - started)

        control: Child | None = None
        control_url: str | None = None
        control_error: str | None = None
        available, note = await asyncio.to_thread(control_plane_status)
        if available:
            started = time.monotonic()
            reporter.starting("control plane")
            control = await Child.start("the control plane (zonegate serve --role control)",
                                        serve_args(files, "control"),
                                        files.logs / "control.log")
            stack.push_async_callback(control.stop)
            try:
                ready = await control.wait_ready(health_urls(ports.control),
                                                 ca_bundle=credentials.ca_bundle,
                                                 limit=_READY_LIMIT)
            except StartupFailed as exc:
                if _NOT_YET in control.log_tail():
                    # the API exists but `serve --role control` does not run it yet
                    note = f"'zonegate serve --role control' {_NOT_YET} (issue #7)"
                else:
                    control_error = str(exc)  # the tour reports it as a failed step
                control = None
            else:
                control_url = ready.removesuffix("/healthz")
                reporter.ready("control plane", control_url, time.monotonic() - started)

        yield Deployment(files=files, ports=ports, credentials=credentials, idp=idp,
                         upstreams=upstreams, gateway=gateway, gateway_url=gateway_url,
                         control=control, control_url=control_url, control_note=note,
                         control_error=control_error)
