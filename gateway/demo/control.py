"""The control plane in the demo: one more component, when this build has it.

It joins the demo when `gateway.control.app` provides `build_app`; it is then started as
`zonegate serve --role control` on the same gateway.yaml (same store, same IdP). The
monitor posts its alerts to it over mTLS and the control plane quarantines the camera of
the severe ones (`control.auto_quarantine`); the tour then quarantines and releases the
traffic sensor through its API and sees the gateway refuse, then admit, the sensor.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
from typing import TYPE_CHECKING

import aiohttp

from gateway.demo.tour import SENSOR, Answer, Check

if TYPE_CHECKING:
    from gateway.demo.tour import TourContext

_TIMEOUT = aiohttp.ClientTimeout(total=10)
_ENFORCED_DEADLINE = 15.0  # seconds; the gateway refreshes the store every 0.5 s


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


async def alerts_listed(ctx: TourContext, base: str, rule_id: str) -> int:
    """How many alerts of `rule_id` the control plane lists (as the SOC analyst)."""
    token = await ctx.token("analyst")
    connector = aiohttp.TCPConnector(ssl=ctx.tls(None))
    async with aiohttp.ClientSession(base, connector=connector, timeout=_TIMEOUT,
                                     headers={"Authorization": f"Bearer {token}"}) as session, \
            session.get("/api/alerts", params={"rule_id": rule_id}) as resp:
        body = await resp.json(content_type=None)
    items = body.get("items") if resp.status == 200 and isinstance(body, dict) else None
    return len(items) if isinstance(items, list) else 0


async def quarantines_at(ctx: TourContext, base: str, ip: str) -> list[tuple[str, str, str]]:
    """(device id, reason, by) of each active quarantine of the device at `ip`, as the SOC
    analyst sees them."""
    token = await ctx.token("analyst")
    connector = aiohttp.TCPConnector(ssl=ctx.tls(None))
    found: list[tuple[str, str, str]] = []
    async with aiohttp.ClientSession(base, connector=connector, timeout=_TIMEOUT,
                                     headers={"Authorization": f"Bearer {token}"}) as session:
        async with session.get("/api/quarantines") as resp:
            active = await resp.json(content_type=None)
        for entry in active if isinstance(active, list) else []:
            if not isinstance(entry, dict) or ip not in entry.get("ips", []):
                continue
            device = str(entry.get("device_id"))
            async with session.get(f"/api/devices/{device}") as resp:
                detail = await resp.json(content_type=None)
            history = detail.get("quarantines", []) if isinstance(detail, dict) else []
            by = next((str(q.get("by")) for q in history if isinstance(q, dict)
                       and q.get("id") == entry.get("quarantine_id")), "?")
            found.append((device, str(entry.get("reason")), by))
    return found


async def quarantine_round_trip(ctx: TourContext, base: str) -> Check:
    """As the security officer: quarantine the sensor, see it listed and refused by the
    gateway, release it, see it admitted again."""
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
        refused = await _gateway_answers(ctx, 403)
        async with session.post(f"/api/devices/{device}/release") as resp:
            if resp.status != 200:
                return False, f"POST release -> {resp.status} {await resp.text()}"
        after = await _active(session, device)
        admitted = await _gateway_answers(ctx, 200)
    ok = listed and not after and refused.status == 403 \
        and "device-quarantined" in refused.reasons() and admitted.status == 200
    return ok, (f"{SENSOR} ({device}) listed while quarantined: {listed}, gateway "
                f"{refused.status} {refused.reasons()}; after release listed: {after}, "
                f"gateway {admitted.status}")


async def console_sign_in(ctx: TourContext, base: str) -> Check:
    """What the console does in a browser at `base`: load under its CSP, then sign in at
    the IdP with the public client (CORS preflight, password grant), then call the API."""
    origin = base.rstrip("/")
    idp_origin = ctx.token_endpoint.rsplit("/", 1)[0]
    connector = aiohttp.TCPConnector(ssl=ctx.tls(None))
    async with aiohttp.ClientSession(connector=connector, timeout=_TIMEOUT) as session:
        async with session.get(f"{origin}/console/") as resp:
            csp = resp.headers.get("Content-Security-Policy", "")
            if resp.status != 200 or f"connect-src 'self' {idp_origin}" not in csp:
                return False, f"GET /console/ -> {resp.status}, CSP {csp!r}"
        async with session.get(f"{origin}/console/config.json") as resp:
            client_id = (await resp.json(content_type=None)).get("client_id")
        async with session.options(ctx.token_endpoint, headers={
                "Origin": origin, "Access-Control-Request-Method": "POST"}) as resp:
            preflight = resp.status, resp.headers.get("Access-Control-Allow-Origin")
        if preflight != (204, origin):
            return False, f"CORS preflight from {origin} -> {preflight}"
        async with session.post(ctx.token_endpoint, headers={"Origin": origin}, data={
                "grant_type": "password", "client_id": str(client_id), "username": "analyst",
                "password": "analyst-demo-password"}) as resp:
            body = await resp.json(content_type=None)
            allowed = resp.headers.get("Access-Control-Allow-Origin")
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or allowed != origin:
            return False, f"password grant as {client_id}: {body} (CORS {allowed!r})"
        async with session.get(f"{origin}/api/me",
                               headers={"Authorization": f"Bearer {token}"}) as resp:
            me = await resp.json(content_type=None)
    actor = me.get("actor") if isinstance(me, dict) else None
    return actor == "analyst", (f"CSP names {idp_origin}; {client_id} (no secret) signed in "
                                f"from {origin}; /api/me -> {actor}")


async def _gateway_answers(ctx: TourContext, status: int) -> Answer:
    """The sensor's request to the gateway, polled until it answers `status` (deadline)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _ENFORCED_DEADLINE
    while True:
        answer = await ctx.get("/zones/open/records", device=SENSOR)
        if answer.status == status or loop.time() > deadline:
            return answer
        await asyncio.sleep(0.2)


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
