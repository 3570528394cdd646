"""`control.auto_quarantine`: a severe alert the monitor posts quarantines its device, in the
same request, through the store the gateways enforce.

Real HTTP to the control-plane test stack (TLS, the monitor's pki/ client certificate) on
SQLite and on PostgreSQL; the decision function on its own with a table; and end to end, a
real `zonegate monitor run --pcap` on the demo's shipped capture posting to a real
`zonegate serve --role control` process, after which the camera is quarantined in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import ssl
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config import AutoQuarantine, GatewayConfig
from gateway.control.auto_quarantine import ACTION, MAX_REASON, actor_of, decide, reason_of
from gateway.demo.files import MONITOR_CONFIG, shipped_capture
from gateway.demo.make_capture import CAMERA_IP, CAMERA_MAC, SENSOR_IP
from gateway.idp import DevIdP, demo_config
from gateway.store import Store, StoreTrustSource
from gateway.store._alert_doc import validate
from tests.gateway.control import conftest
from tests.gateway.control.conftest import (
    MONITOR_ID,
    PG_PORT,
    Stack,
    make_pki,
    postgres_store,
    running_stack,
    seed_devices,
    sqlite_store,
    tls_section,
)

AUTO = ("  auto_quarantine:\n    rules: [telnet_bruteforce, port_scan_vertical]\n"
        "    min_severity: 80\n    duration_seconds: 3600\n")
BY = actor_of(MONITOR_ID)
CLI = [sys.executable, "-c", "import sys; from gateway.cli import main; sys.exit(main())"]


def severe(event_id: str, *, device: str | None = "cam-77", mac: str | None = "02:00:00:00:00:77",
           ip: str = "10.0.0.77", rule: str = "telnet_bruteforce", severity: int = 90,
           message: str = "Mirai-style telnet login attempts") -> dict[str, object]:
    source: dict[str, object] = {"ip": ip}
    if mac is not None:
        source["mac"] = mac
    doc: dict[str, object] = {
        "@timestamp": "2026-11-25T08:00:00.000Z",
        "event": {"kind": "alert", "category": ["network", "intrusion_detection"],
                  "severity": severity, "id": event_id},
        "rule": {"id": rule, "name": rule.replace("_", " "), "ruleset": "zonegate-monitor"},
        "source": source, "message": message,
    }
    if device is not None:
        doc["device"] = {"id": device}
    return doc


def _with_auto_quarantine(issuer: str, **kwargs: Any) -> GatewayConfig:
    # the conftest's stack, with this module's `auto_quarantine` section in `control:`
    config = _plain_control_config(issuer, **kwargs)
    section = AutoQuarantine.model_validate({"rules": ["telnet_bruteforce",
                                                       "port_scan_vertical", "arp_spoof"],
                                             "min_severity": 80, "duration_seconds": 3600,
                                             "exempt_devices": ["nvr-1", "02-00-00-00-00-EE"],
                                             "exempt_networks": ["10.9.0.0/24"]})
    control = config.control.model_copy(update={"auto_quarantine": section})
    return config.model_copy(update={"control": control})


_plain_control_config = conftest.control_config


@contextlib.contextmanager
def _stack(tmp: Path, backend: str) -> Iterator[Stack]:
    with contextlib.ExitStack() as stack:
        store = stack.enter_context(sqlite_store(tmp) if backend == "sqlite"
                                    else postgres_store())
        seed_devices(store)
        # the stack reads its configuration while it starts: patched only that long, so
        # the conftest's own `stack` (auto-quarantine off) is never affected
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(conftest, "control_config", _with_auto_quarantine)
            running = stack.enter_context(running_stack(tmp, store, backend=backend))
        yield running


def _postgres_listening() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", PG_PORT), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def aq(request: pytest.FixtureRequest,
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A control plane with auto-quarantine on, per backend (TLS, a CA, mTLS clients)."""
    backend: str = request.param
    if backend == "postgresql" and not _postgres_listening():
        if os.environ.get("ZONEGATE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"PostgreSQL is not listening on 127.0.0.1:{PG_PORT} "
                        "(ZONEGATE_REQUIRE_SERVICES=1, so this is a failure)")
        pytest.skip(f"PostgreSQL is not listening on 127.0.0.1:{PG_PORT}")
    with _stack(tmp_path_factory.mktemp(f"aq-{backend}"), backend) as running:
        yield running


def _monitor(stack: Stack) -> httpx.Client:
    assert stack.pki is not None
    return stack.client(None, cert=stack.pki.leaf("monitor"))


def _actions(store: Store, target: str) -> list[tuple[str, str]]:
    return [(a.actor, a.action) for a in reversed(store.audit.list(target=target).items)]


def test_a_severe_alert_quarantines_the_device_and_the_gateway_sees_it(aq: Stack) -> None:
    before = datetime.now(UTC)
    response = _monitor(aq).post("/api/alerts", json=severe("aq-1"))
    assert response.status_code == 201, response.text
    body = response.json()
    [done] = body["quarantined"]
    assert (done["alert_id"], done["rule_id"], done["device_id"], done["device_created"]) == \
        ("aq-1", "telnet_bruteforce", "cam-77", True)
    until = datetime.fromisoformat(done["until"])
    # the expiry is now + duration_seconds, now being inside this request
    assert before + timedelta(hours=1) <= until <= datetime.now(UTC) + timedelta(hours=1)

    device = aq.store.devices.get("cam-77")
    assert (device.mac, device.ips) == ("02:00:00:00:00:77", ("10.0.0.77",))
    [quarantine] = aq.store.quarantines.history("cam-77")
    assert quarantine.id == done["quarantine_id"]
    assert quarantine.reason == "telnet_bruteforce: Mirai-style telnet login attempts"
    assert quarantine.by == BY == f"auto-quarantine:{MONITOR_ID}"
    assert quarantine.until == until

    trust = StoreTrustSource(aq.store.quarantines)
    assert trust.refresh()
    assert trust.trust_of(ip="10.0.0.77") == "quarantined"
    assert trust.trust_of(mac="02:00:00:00:00:77") == "quarantined"
    assert trust.trust_of(device_id="cam-77") == "quarantined"
    assert trust.trust_of(ip="10.0.0.14") != "quarantined"

    assert _actions(aq.store, "device:cam-77") == [(MONITOR_ID, "device.create"),
                                                   (BY, "device.quarantine")]
    [marker] = aq.store.audit.list(target="alert:aq-1", action=ACTION).items
    assert (marker.actor, marker.details["quarantine_id"], marker.details["device_created"]) \
        == (BY, quarantine.id, True)


@pytest.mark.parametrize(("case", "doc", "user"), [
    ("below the threshold", severe("aq-low", device="cam-low", mac=None, ip="10.0.1.1",
                                   severity=79), None),
    ("a rule not listed", severe("aq-rule", device="cam-rule", mac=None, ip="10.0.1.2",
                                 rule="port_scan_horizontal"), None),
    ("posted by an admin, not an ingester", severe("aq-admin", device="cam-admin", mac=None,
                                                   ip="10.0.1.3"), "admin"),
    ("no device id and no MAC", severe("aq-anon", device=None, mac=None, ip="10.0.0.99"),
     None),
])
def test_alerts_that_do_not_meet_the_rule_quarantine_nothing(aq: Stack, case: str,
                                                             doc: dict[str, object],
                                                             user: str | None) -> None:
    client = aq.client(user) if user else _monitor(aq)
    response = client.post("/api/alerts", json=doc)
    assert response.status_code == 201, response.text
    assert response.json()["quarantined"] == [], case
    device = doc.get("device")
    if isinstance(device, dict):
        assert not any(d.id == device["id"] for d in aq.store.devices.list(limit=500).items)
    trust = StoreTrustSource(aq.store.quarantines)
    trust.refresh()
    assert trust.trust_of(ip=str(doc["source"]["ip"])) != "quarantined"  # type: ignore[index]


def test_the_same_alert_twice_is_one_quarantine_even_after_a_release(aq: Stack) -> None:
    monitor = _monitor(aq)
    doc = severe("aq-twice", device="cam-twice", mac="02:00:00:00:00:78", ip="10.0.0.78")
    assert len(monitor.post("/api/alerts", json=doc).json()["quarantined"]) == 1
    again = monitor.post("/api/alerts", json=doc)
    assert (again.status_code, again.json()["quarantined"]) == (200, [])
    # an officer lifts it; the monitor's spool replaying the same alert does not undo that
    assert aq.client("officer").post("/api/devices/cam-twice/release").status_code == 200
    replay = monitor.post("/api/alerts", json=doc)
    assert (replay.status_code, replay.json()["quarantined"]) == (200, [])
    assert len(aq.store.quarantines.history("cam-twice")) == 1
    # a new severe alert on a quarantined device does not stack a second quarantine
    fresh = severe("aq-twice-2", device="cam-twice", mac="02:00:00:00:00:78", ip="10.0.0.78")
    assert len(monitor.post("/api/alerts", json=fresh).json()["quarantined"]) == 1
    also = severe("aq-twice-3", device="cam-twice", mac="02:00:00:00:00:78", ip="10.0.0.78")
    assert monitor.post("/api/alerts", json=also).json()["quarantined"] == []
    history = aq.store.quarantines.history("cam-twice")
    assert len(history) == 2 and sum(q.released_at is None for q in history) == 1
    [marker] = aq.store.audit.list(target="alert:aq-twice-3", action=ACTION).items
    assert marker.details["quarantine_id"] is None
    assert marker.details["already_quarantined"] == [history[-1].id]


def test_a_device_an_officer_trusts_is_not_quarantined_automatically(aq: Stack) -> None:
    monitor, officer = _monitor(aq), aq.client("officer")
    first = severe("aq-trust-0", device="pump-7", mac="02:00:00:00:00:79", ip="10.0.0.79")
    assert len(monitor.post("/api/alerts", json=first).json()["quarantined"]) == 1
    assert officer.post("/api/devices/pump-7/release").status_code == 200
    assert officer.put("/api/devices/pump-7/trust", json={"trust": "trusted"}).status_code == 200
    doc = severe("aq-trust-1", device="pump-7", mac="02:00:00:00:00:79", ip="10.0.0.79")
    posted = monitor.post("/api/alerts", json=doc)
    assert (posted.status_code, posted.json()["quarantined"]) == (201, [])
    assert [q.released_at is None for q in aq.store.quarantines.history("pump-7")] == [False]
    [marker] = aq.store.audit.list(target="alert:aq-trust-1", action=ACTION).items
    assert (marker.details["skipped"], marker.details["quarantine_id"]) == ("trusted", None)
    assert aq.store.alerts.get("aq-trust-1").rule_id  # the alert itself is kept
    # the verdict withdrawn, the next severe alert quarantines it again
    assert officer.put("/api/devices/pump-7/trust", json={"trust": "unknown"}).status_code == 200
    again = severe("aq-trust-2", device="pump-7", mac="02:00:00:00:00:79", ip="10.0.0.79")
    assert len(monitor.post("/api/alerts", json=again).json()["quarantined"]) == 1


@pytest.mark.parametrize(("alert_id", "doc", "skipped"), [
    ("aq-ex-1", severe("aq-ex-1", device="nvr-1", mac=None, ip="10.0.0.91"), "exempt-device"),
    # the MAC in another notation than the configuration's
    ("aq-ex-2", severe("aq-ex-2", device=None, mac="02:00:00:00:00:ee", ip="10.0.0.92"),
     "exempt-device"),
    ("aq-ex-3", severe("aq-ex-3", device="srv-93", mac="02:00:00:00:00:93", ip="10.9.0.93"),
     "exempt-network"),
    # a host behind a router, which the monitor names by its address
    ("aq-ex-4", severe("aq-ex-4", device="ip:10.9.0.94", mac=None, ip="10.9.0.94"),
     "exempt-network"),
])
def test_an_exempt_device_or_network_is_never_quarantined_automatically(
        aq: Stack, alert_id: str, doc: dict[str, object], skipped: str) -> None:
    posted = _monitor(aq).post("/api/alerts", json=doc)
    assert (posted.status_code, posted.json()["quarantined"]) == (201, []), posted.text
    device = doc.get("device", {}).get("id") or doc["source"]["mac"]  # type: ignore[union-attr,index]
    assert aq.store.quarantines.history(device) == ()
    [marker] = aq.store.audit.list(target=f"alert:{alert_id}", action=ACTION).items
    assert (marker.details["skipped"], marker.details["quarantine_id"]) == (skipped, None)
    assert marker.details["device_created"] is False
    assert aq.store.alerts.get(alert_id).rule_id  # the alert itself is kept


def test_an_arp_spoofer_claiming_an_exempt_address_is_still_quarantined(aq: Stack) -> None:
    # source.ip of arp_spoof is the address claimed (here the router's): the spoofer's MAC
    # is what is quarantined, and the exemption of the address does not protect it
    doc = severe("aq-ex-arp", device=None, mac="02:00:00:00:00:a5", ip="10.9.0.1",
                 rule="arp_spoof", message="ARP claim of 10.9.0.1")
    done = _monitor(aq).post("/api/alerts", json=doc).json()["quarantined"]
    assert [q["device_id"] for q in done] == ["02:00:00:00:00:a5"]
    assert aq.store.devices.get("02:00:00:00:00:a5").ips == ()


def test_a_batch_quarantines_each_device_once(aq: Stack) -> None:
    docs = [
        severe("aq-b1", device="cam-b", mac="02:00:00:00:00:0b", ip="10.0.0.111"),
        severe("aq-b2", device="cam-b", mac="02:00:00:00:00:0b", ip="10.0.0.111",
               rule="port_scan_vertical", severity=85),
        severe("aq-b3", device="cam-14", mac=None, ip="10.0.0.14"),  # already inventoried
        severe("aq-b4", device="cam-13", mac=None, ip="10.0.0.13", severity=40),
        # no device.id: the MAC names the device (the monitor's own device ids are MACs)
        severe("aq-b5", device=None, mac="02:00:00:00:00:5b", ip="10.0.0.115"),
    ]
    body = "".join(json.dumps(d) + "\n" for d in docs)
    response = _monitor(aq).post("/api/alerts/batch", content=body,
                                 headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["created"], result["duplicates"]) == (5, 0)
    done = {q["device_id"]: (q["alert_id"], q["device_created"]) for q in result["quarantined"]}
    assert done == {"cam-b": ("aq-b1", True), "cam-14": ("aq-b3", False),
                    "02:00:00:00:00:5b": ("aq-b5", True)}
    assert len(aq.store.quarantines.history("cam-b")) == 1
    assert aq.store.quarantines.history("cam-13") == ()
    assert aq.store.devices.get("02:00:00:00:00:5b").ips == ("10.0.0.115",)
    again = _monitor(aq).post("/api/alerts/batch", content=body).json()
    assert (again["created"], again["duplicates"], again["quarantined"]) == (0, 5, [])


def test_off_by_default(stack: Stack) -> None:
    # the conftest's own stack has no auto_quarantine section
    assert stack.pki is not None
    monitor = stack.client(None, cert=stack.pki.leaf("monitor"))
    response = monitor.post("/api/alerts", json=severe("aq-off", device="cam-13", mac=None,
                                                       ip="10.0.0.13"))
    assert response.json() == {"id": "aq-off", "created": True}
    assert stack.store.quarantines.history("cam-13") == ()


# --- the decision on its own -------------------------------------------------------------

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
RULE = AutoQuarantine(rules=("telnet_bruteforce", "arp_spoof"), min_severity=80,
                      duration_seconds=600)


@pytest.mark.parametrize(("note", "config", "doc", "ingester", "expect"), [
    ("meets it", RULE, severe("d1"), True, ("cam-77", ("10.0.0.77",))),
    ("at the threshold", RULE, severe("d2", severity=80), True, ("cam-77", ("10.0.0.77",))),
    ("below", RULE, severe("d3", severity=79), True, None),
    ("other rule", RULE, severe("d4", rule="dns_dga"), True, None),
    ("not an ingester", RULE, severe("d5"), False, None),
    ("not an ingester, allowed", RULE.model_copy(update={"ingesters_only": False}),
     severe("d6"), False, ("cam-77", ("10.0.0.77",))),
    ("disabled", RULE.model_copy(update={"enabled": False}), severe("d7"), True, None),
    ("off", None, severe("d8"), True, None),
    ("every rule", AutoQuarantine(), severe("d9", rule="dns_dga"), True,
     ("cam-77", ("10.0.0.77",))),
    ("MAC names it", RULE, severe("d10", device=None), True,
     ("02:00:00:00:00:77", ("10.0.0.77",))),
    ("an address alone names nothing", RULE, severe("d11", device=None, mac=None), True, None),
    ("arp_spoof: the claimed address is not recorded", RULE,
     severe("d12", device=None, rule="arp_spoof"), True, ("02:00:00:00:00:77", ())),
])
def test_decide(note: str, config: AutoQuarantine | None, doc: dict[str, object],
                ingester: bool, expect: tuple[str, tuple[str, ...]] | None) -> None:
    order = decide(config, validate(doc), ingester=ingester, now=NOW)
    if expect is None:
        assert order is None, note
        return
    assert order is not None and config is not None, note
    assert (order.device.id, order.device.ips) == expect, note
    assert order.until == NOW + timedelta(seconds=config.duration_seconds)
    assert order.reason == f"{doc['rule']['id']}: {doc['message']}"  # type: ignore[index]


EXEMPT = RULE.model_copy(update={"exempt_devices": ("cam-77", "02:00:00:00:00:AA"),
                                 "exempt_networks": ("10.9.0.0/24", "fd00:9::/64")})


@pytest.mark.parametrize(("note", "doc", "expect"), [
    ("device id", severe("e1"), "device"),
    ("MAC, other case", severe("e2", device=None, mac="02:00:00:00:00:aa"), "device"),
    ("MAC, dashes", severe("e3", device="x", mac="02-00-00-00-00-AA"), "device"),
    ("own address", severe("e4", device="x", ip="10.9.0.4"), "network"),
    ("IPv6 address", severe("e5", device="x", ip="fd00:9::5"), "network"),
    ("ip: device", severe("e6", device="ip:10.9.0.6", mac=None, ip="10.0.0.6"), "network"),
    ("neither", severe("e7", device="x", mac="02:00:00:00:00:07"), None),
    ("arp_spoof: the claimed address exempts nothing",
     severe("e8", device=None, mac="02:00:00:00:00:08", ip="10.9.0.1", rule="arp_spoof"), None),
    ("arp_spoof: an exempt MAC is still exempt",
     severe("e9", device=None, mac="02:00:00:00:00:aa", rule="arp_spoof"), "device"),
])
def test_exemption(note: str, doc: dict[str, object], expect: str | None) -> None:
    order = decide(EXEMPT, validate(doc), ingester=True, now=NOW)
    assert order is not None, note
    assert order.exempt == expect, note
    assert decide(RULE, validate(doc), ingester=True, now=NOW).exempt is None  # type: ignore[union-attr]


@pytest.mark.parametrize(("field", "value"), [
    ("exempt_networks", ["10.9.0.0/33"]), ("exempt_networks", ["router"]),
    ("exempt_devices", [""]), ("exempt_devices", ["x" * 129]),
])
def test_exemptions_are_validated(field: str, value: list[str]) -> None:
    with pytest.raises(ValueError, match=field):
        AutoQuarantine.model_validate({field: value})


def test_reason_is_one_bounded_line() -> None:
    assert reason_of("dns_tunnel", "long\nlabels\x00here") == "dns_tunnel: long labels here"
    long = reason_of("dns_tunnel", "x" * 5000)
    assert len(long) == MAX_REASON and long.endswith("…")
    assert len(actor_of("spiffe://city.example/" + "a" * 200)) == 128


# --- end to end: zonegate monitor run -> zonegate serve --role control ----------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _ready(proc: asyncio.subprocess.Process, url: str, context: ssl.SSLContext,
                 log: Path) -> None:
    async with httpx.AsyncClient(verify=context, timeout=2) as client, asyncio.timeout(120):
        while True:  # poll the readiness endpoint; the timeout only bounds a hang
            if proc.returncode is not None:
                tail = (await asyncio.to_thread(log.read_text))[-2000:]
                raise AssertionError(f"serve exited: {tail}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_monitor_run_on_the_demo_capture_quarantines_the_camera(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    monitor_cert, monitor_key = pki.leaf("monitor")
    port = _free_port()
    store_url = f"sqlite:///{tmp_path / 'zonegate.db'}"
    with Store.open(store_url) as store:
        store.migrate()
    async with DevIdP.start(demo_config(), "127.0.0.1", 0) as idp:
        config = tmp_path / "gateway.yaml"
        config.write_text(f"""
trust_domain: city.example
listen: {{control: "127.0.0.1:{port}"}}
{tls_section(pki)}identity:
  oidc:
    - {{issuer: "{idp.issuer}", audience: zonegate, jwks_uri: "{idp.jwks_uri}"}}
control:
  ca_dir: {pki.ca_dir}
  ingesters: [{MONITOR_ID}]
{AUTO}store: "{store_url}"
""")
        (tmp_path / "monitor.yaml").write_text(json.dumps(MONITOR_CONFIG))
        log = tmp_path / "control.log"
        with log.open("wb") as sink:
            serve = await asyncio.create_subprocess_exec(
                *CLI, "serve", "--config", str(config), "--role", "control",
                stdout=sink, stderr=sink)
        try:
            context = ssl.create_default_context(cafile=str(pki.ca_dir / "ca.pem"))
            await _ready(serve, f"https://127.0.0.1:{port}/healthz", context, log)
            monitor = await asyncio.create_subprocess_exec(
                *CLI, "monitor", "run", "--pcap", str(shipped_capture()),
                "--config", str(tmp_path / "monitor.yaml"), "--no-live-table",
                "--alerts-out", str(tmp_path / "alerts.ndjson"),
                "--quarantine-file", str(tmp_path / "quarantine.json"),
                "--inventory", str(tmp_path / "inventory.json"),
                "--alerts-url", f"https://127.0.0.1:{port}/api/alerts",
                "--spool", str(tmp_path / "spool"), "--alerts-cert", str(monitor_cert),
                "--alerts-key", str(monitor_key), "--alerts-ca", str(pki.ca_dir / "ca.pem"),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            output, _ = await asyncio.wait_for(monitor.communicate(), 120)
            assert monitor.returncode == 0, output.decode()
            assert b"spooled" not in output, output.decode()
        finally:
            serve.terminate()
            assert await asyncio.wait_for(serve.wait(), 60) == 0, log.read_text()[-2000:]
    with Store.open(store_url) as store:
        camera = [q for q in store.quarantines.active() if CAMERA_IP in q.ips]
        assert [q.mac for q in camera] == [CAMERA_MAC]
        assert camera[0].reason.startswith("telnet_bruteforce: ")
        [record] = store.quarantines.history(camera[0].device_id)
        assert record.by == BY
        trust = StoreTrustSource(store.quarantines)
        assert trust.refresh()
        assert trust.trust_of(ip=CAMERA_IP) == "quarantined"
        assert trust.trust_of(ip=SENSOR_IP) != "quarantined"  # the sensor only publishes
