"""The control plane in the demo: one more component, when this build has it.

It joins the demo when `gateway.control.app` provides `build_app`; it is then started as
`zonegate serve --role control` on the same gateway.yaml (same store, same IdP), and the
tour quarantines and releases the traffic sensor through its API.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from typing import TYPE_CHECKING

import aiohttp

from gateway.demo.tour import SENSOR, Check

if TYPE_CHECKING:
    from gateway.demo.tour import TourContext

_TIMEOUT = aiohttp.ClientTimeout(total=10)


def control_plane_status() -> tuple[bool, str]:
    """(available, why not) for this build's control plane."""
    try:
        if importlib.util.find_spec("gateway.control.app") is None:
            return False, "gateway.control.app does not exist yet (issue #7)"
        module = importlib.import_module("gateway.control.app")
    except Exception as exc:
        # feature detection only: a control plane that cannot even be imported is reported
        # as absent (with the reason), and the demo runs without it
        return False, f"gateway.control.app cannot be imported: {type(exc).__name__}: {exc}"
    if not callable(getattr(module, "build_app", None)):
        return False, "gateway.control.app has no build_app yet (issue #7)"
    return True, ""


def health_urls(port: int) -> list[str]:
    """Where the control plane may answer /healthz (TLS like the gateway, or plain)."""
    return [f"https://127.0.0.1:{port}/healthz", f"http://127.0.0.1:{port}/healthz"]


async def quarantine_round_trip(ctx: TourContext, base: str) -> Check:
    """As the security officer: quarantine the sensor, see it listed, release it."""
    token = await ctx.token("officer")
    headers = {"Authorization": f"Bearer {token}"}
    device = _sensor_id(ctx)
    connector = aiohttp.TCPConnector(ssl=ctx.tls(None))
    async with aiohttp.ClientSession(base, connector=connector, headers=headers,
                                     timeout=_TIMEOUT) as session:
        async with session.post(f"/api/devices/{device}/quarantine",
                                json={"reason": "demo: quarantined through the control plane",
                                      "duration_seconds": 600}) as resp:
            if resp.status not in (200, 201):
                return False, f"POST quarantine -> {resp.status} {await resp.text()}"
        listed = await _active(session, device)
        async with session.post(f"/api/devices/{device}/release") as resp:
            if resp.status != 200:
                return False, f"POST release -> {resp.status} {await resp.text()}"
        after = await _active(session, device)
    ok = listed and not after
    return ok, (f"{SENSOR} ({device}) listed while quarantined: {listed}, "
                f"after release: {after}")


async def _active(session: aiohttp.ClientSession, device: str) -> bool:
    async with session.get("/api/quarantines") as resp:
        body = await resp.json(content_type=None)
    items = body if isinstance(body, list) else []
    return any(isinstance(q, dict) and q.get("device_id") == device for q in items)


def _sensor_id(ctx: TourContext) -> str:
    # the monitor's inventory names devices by MAC; the sensor is the one at its address
    ip = ctx.credentials.devices[SENSOR].source_ip
    inventory = json.loads(ctx.files.inventory.read_text(encoding="utf-8"))
    for device in inventory.get("devices", []):
        if ip in device.get("ips", []):
            return str(device["device_id"])
    return SENSOR
