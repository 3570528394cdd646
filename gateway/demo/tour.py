"""The tour: one request (or command) per step and one expectation each.

Every request is real: HTTPS to the gateway on loopback, a token from the dev IdP's token
endpoint, the device's client certificate, and the device's own source address (the
camera is 127.0.0.13, as in the shipped capture). A step never raises: it reports
`ok` or `FAIL` with what it saw.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from yarl import URL

from gateway.demo.children import run_to_end
from gateway.demo.credentials import DemoCredentials
from gateway.demo.errors import DemoError
from gateway.demo.files import StateFiles, monitor_args, shipped_capture
from gateway.demo.store_sync import record_inventory

CLI_CLIENT = ("zonegate-cli", "zonegate-cli-dev-secret")  # gateway/idp/demo.yaml
CAMERA, SENSOR = "cam-13", "sensor-12"
_TIMEOUT = aiohttp.ClientTimeout(total=10)
_QUARANTINE_DEADLINE = 15.0


def demo_password(user: str) -> str:
    """The public demo password of a dev IdP user (gateway/idp/demo.yaml)."""
    return f"{user}-demo-password"


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step's outcome; `line` is what the tour prints."""

    name: str
    ok: bool
    detail: str

    @property
    def line(self) -> str:
        """`ok <step> (<detail>)` or `FAIL <step>: <detail>`."""
        if self.ok:
            return f"ok {self.name} ({self.detail})"
        return f"FAIL {self.name}: {self.detail}"


@dataclass(frozen=True, slots=True)
class Answer:
    """A response as the tour needs it."""

    status: int
    text: str

    def json(self) -> dict[str, object]:
        """The body as a JSON object ({} if it is not one)."""
        try:
            body = json.loads(self.text)
        except json.JSONDecodeError:
            return {}
        return body if isinstance(body, dict) else {}

    def reasons(self) -> list[str]:
        """The `reasons` of a gateway refusal."""
        reasons = self.json().get("reasons", [])
        return [r for r in reasons if isinstance(r, str)] if isinstance(reasons, list) else []


@dataclass
class TourContext:
    """Everything the steps talk to."""

    gateway_url: str
    token_endpoint: str
    credentials: DemoCredentials
    files: StateFiles
    control_url: str | None = None
    control_error: str | None = None
    capture: Path = field(default_factory=shipped_capture)
    requests_sent: int = 0
    _tokens: dict[str, str] = field(default_factory=dict)

    def tls(self, device: str | None) -> ssl.SSLContext:
        """A client context trusting the demo CA, presenting `device`'s certificate."""
        context = ssl.create_default_context(cafile=str(self.credentials.ca_bundle))
        if device is not None:
            identity = self.credentials.devices[device]
            context.load_cert_chain(str(identity.cert), str(identity.key))
        return context

    async def token(self, user: str) -> str:
        """An access token for a demo user, from the IdP's token endpoint (cached)."""
        if user not in self._tokens:
            async with aiohttp.ClientSession(timeout=_TIMEOUT) as session, session.post(
                    self.token_endpoint, auth=aiohttp.BasicAuth(*CLI_CLIENT),
                    data={"grant_type": "password", "username": user,
                          "password": demo_password(user)}) as resp:
                body = await resp.json(content_type=None)
                if resp.status != 200 or not isinstance(body, dict) \
                        or not isinstance(body.get("access_token"), str):
                    raise DemoError(f"the IdP refused a token for {user}: {resp.status} {body}")
                self._tokens[user] = body["access_token"]
        return self._tokens[user]

    async def get(self, path: str, *, user: str | None = None, device: str | None = None,
                  encoded: bool = False) -> Answer:
        """GET `path` on the gateway as `user` (token) from `device` (cert, source IP)."""
        headers = {"Authorization": f"Bearer {await self.token(user)}"} if user else {}
        source = self.credentials.devices[device].source_ip if device else "127.0.0.1"
        connector = aiohttp.TCPConnector(ssl=self.tls(device), local_addr=(source, 0),
                                         force_close=True)
        url = URL(self.gateway_url + path, encoded=encoded)
        self.requests_sent += 1
        async with aiohttp.ClientSession(connector=connector, timeout=_TIMEOUT) as session, \
                session.get(url, headers=headers) as resp:
            return Answer(resp.status, await resp.text())


Check = tuple[bool, str]
Step = tuple[str, Callable[[TourContext], Awaitable[Check]]]


async def _doctor_reads_health(ctx: TourContext) -> Check:
    answer = await ctx.get("/zones/health/records/1", user="doctor", device="ward-3-tablet")
    body = answer.json()
    visible = body.get("resident_id") == "110105198001010024" and "diagnosis" in body
    return (answer.status == 200 and visible,
            f"{answer.status}, resident_id {body.get('resident_id')}, "
            f"diagnosis {body.get('diagnosis')}")


async def _engineer_reads_transport(ctx: TourContext) -> Check:
    answer = await ctx.get("/zones/transport/records", user="engineer", device="eng-laptop-2")
    records = answer.json().get("records")
    count = len(records) if isinstance(records, list) else 0
    return answer.status == 200 and count > 0, f"{answer.status}, {count} sensor record(s)"


async def _engineer_denied_health(ctx: TourContext) -> Check:
    answer = await ctx.get("/zones/health/records/1", user="engineer", device="eng-laptop-2")
    reasons = answer.reasons()
    leaked = "110105198001010024" in answer.text
    return (answer.status == 403 and bool(reasons) and not leaked,
            f"{answer.status}, reasons {reasons}")


async def _masked_for_clearance(ctx: TourContext) -> Check:
    # the engineer (clearance L2) reads transport (L2); the plate in it is L3
    answer = await ctx.get("/zones/transport/records/sensor-12", user="engineer",
                           device="eng-laptop-2")
    plate = answer.json().get("last_plate")
    masked = isinstance(plate, str) and plate != "京A12345" and "*" in plate
    return (answer.status == 200 and masked and "京A12345" not in answer.text,
            f"{answer.status}, last_plate {plate!r} (clearance L2, the plate is L3)")


async def _no_token(ctx: TourContext) -> Check:
    answer = await ctx.get("/zones/open/records")
    return answer.status == 401, f"{answer.status}, reasons {answer.reasons()}"


async def _path_bypass(ctx: TourContext) -> Check:
    # an encoded '../' that would climb from the open zone into health
    path = "/zones/open/%2e%2e%2fhealth/records/1"
    answer = await ctx.get(path, user="engineer", device="eng-laptop-2", encoded=True)
    leaked = "110105198001010024" in answer.text
    return answer.status == 400 and not leaked, f"GET {path} -> {answer.status}"


async def _camera_before(ctx: TourContext) -> Check:
    answer = await ctx.get("/zones/open/records", device=CAMERA)
    return (answer.status == 200,
            f"{answer.status} for spiffe://…/device/{CAMERA} from "
            f"{ctx.credentials.devices[CAMERA].source_ip}")


async def _monitor_replay(ctx: TourContext) -> Check:
    from gateway.demo.control import alerts_listed, quarantines_at

    files = ctx.files
    if ctx.control_url is None:
        return False, ctx.control_error or "no control plane takes the monitor's alerts"
    # the monitor posts its alerts to the control plane itself (mTLS, its own certificate)
    # and the control plane quarantines the device of a severe one (control.auto_quarantine)
    args = monitor_args(files, ctx.capture, control_url=ctx.control_url,
                        credentials=ctx.credentials)
    output = await run_to_end("zonegate monitor run", args, files.logs / "monitor.log",
                              limit=60)
    devices = await asyncio.to_thread(record_inventory, files.store_url, files.inventory)
    camera_ip = ctx.credentials.devices[CAMERA].source_ip
    quarantines = await quarantines_at(ctx, ctx.control_url, camera_ip)
    listed = await alerts_listed(ctx, ctx.control_url, "telnet_bruteforce")
    spooled = "spooled for the control plane" in output
    automatic = [q for q in quarantines if q[2].startswith("auto-quarantine:")]
    summary = next((line for line in output.splitlines() if line.startswith("packets")), "")
    reasons = "; ".join(f"{device}: {reason!r} by {by}" for device, reason, by in quarantines)
    return (bool(automatic) and listed > 0 and not spooled,
            f"{camera_ip} quarantined by the control plane ({reasons or 'nothing'}); it "
            f"lists {listed} telnet_bruteforce alert(s) posted over mTLS"
            f"{' (some spooled!)' if spooled else ''}; {devices} device(s) in the inventory; "
            f"{summary.partition('incidents: ')[2] or summary}")


async def _camera_after(ctx: TourContext) -> Check:
    # the gateway refreshes the store's quarantines in the background: poll, with a deadline
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _QUARANTINE_DEADLINE
    while True:
        answer = await ctx.get("/zones/open/records", device=CAMERA)
        reasons = answer.reasons()
        if answer.status == 403 and "device-quarantined" in reasons:
            return True, f"{answer.status}, reasons {reasons}"
        if loop.time() > deadline:
            return False, (f"still {answer.status} {reasons} {_QUARANTINE_DEADLINE:g}s "
                           "after the replay")
        await asyncio.sleep(0.2)


async def _sensor_still_admitted(ctx: TourContext) -> Check:
    answer = await ctx.get("/zones/open/records", device=SENSOR)
    return (answer.status == 200,
            f"{answer.status} for {SENSOR} from {ctx.credentials.devices[SENSOR].source_ip}")


async def _control_plane(ctx: TourContext) -> Check:
    from gateway.demo.control import quarantine_round_trip

    if ctx.control_url is None:
        return False, ctx.control_error or "no control plane is running"
    return await quarantine_round_trip(ctx, ctx.control_url)


async def _console_sign_in(ctx: TourContext) -> Check:
    from gateway.demo.control import console_sign_in

    if ctx.control_url is None:
        return False, ctx.control_error or "no control plane is running"
    return await console_sign_in(ctx, ctx.control_url)


async def _audit_verifies(ctx: TourContext) -> Check:
    log = ctx.files.audit_log
    output = await run_to_end("zonegate audit verify", ["audit", "verify", str(log)],
                              ctx.files.logs / "audit-verify.log", limit=30)
    found = re.search(r"(\d+) record\(s\)", output)
    records = int(found.group(1)) if found else 0
    return records > 0, f"{records} record(s), chain intact"


def steps(with_control_plane: bool) -> list[Step]:
    """The tour, in order."""
    tour: list[Step] = [
        ("doctor reads health records (200, L4 data visible)", _doctor_reads_health),
        ("traffic engineer reads transport (200)", _engineer_reads_transport),
        ("traffic engineer is denied health (403 with reason)", _engineer_denied_health),
        ("clearance-limited caller gets a masked response (DLP)", _masked_for_clearance),
        ("no token -> 401", _no_token),
        ("path bypass attempt -> 400", _path_bypass),
        ("camera (mTLS) is admitted before the replay (200)", _camera_before),
        ("monitor replays the shipped capture and quarantines the camera", _monitor_replay),
        ("camera is denied after the replay (403 device-quarantined)", _camera_after),
        ("traffic sensor is still admitted (200)", _sensor_still_admitted),
    ]
    if with_control_plane:
        tour.append(("control plane quarantines and releases a device through its API",
                     _control_plane))
        tour.append(("console signs in from its own origin (CSP, CORS, public client)",
                     _console_sign_in))
    tour.append(("audit log verifies (zonegate audit verify)", _audit_verifies))
    return tour


async def run_tour(ctx: TourContext, report: Callable[[StepResult], None]) -> list[StepResult]:
    """Run every step in order, reporting each as it ends."""
    results: list[StepResult] = []
    with_control = ctx.control_url is not None or ctx.control_error is not None
    for name, check in steps(with_control):
        try:
            ok, detail = await check(ctx)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError, KeyError,
                DemoError) as exc:
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        result = StepResult(name, ok, detail)
        report(result)
        results.append(result)
    return results
