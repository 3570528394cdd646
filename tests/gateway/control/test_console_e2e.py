"""The SOC console end to end in headless Chromium (Debian's chromium + chromedriver).

Everything is real and on loopback: the dev IdP issues the tokens (password grant over
HTTP), `build_app` serves the API and the console from a SQLite store seeded with alerts,
devices and decisions, and the ingress gateway runs the embedded Rego engine over
policies/ with mTLS device certificates from pki/ and its device trust read from the same
store. An analyst signs in and triages an alert; an officer quarantines the tablet; the
gateway then refuses the tablet with 403 device-quarantined. Screenshots of each step go
to tests/artifacts/console/ (git-ignored).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import shutil
import ssl
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import httpx
import pytest
import uvicorn
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from gateway.audit import AuditLog
from gateway.config import PolicyConfig, resolve_paths
from gateway.control.app import build_app
from gateway.identity import build_authenticator
from gateway.idp import DevIdP, demo_config
from gateway.ingress import GatewayRuntimeOptions, build_gateway
from gateway.ingress.app import start_listener
from gateway.ingress.devices import StoreDeviceSource
from gateway.ingress.tls import server_context
from gateway.pdp import build_engine
from gateway.pdp.bundle import write_archive
from gateway.store import (
    DecisionRecord,
    DeviceObservation,
    Store,
    StoreTrustSource,
)
from pki.authority import CertificateAuthority
from tests.gateway.control.test_policies_service import AUTHZ, TESTS
from tests.gateway.ingress.conftest import INSPECTOR, TEST_OPTIONS, gateway_config, start_upstream

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "tests" / "artifacts" / "console"
POLICIES = ROOT / "policies"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
TABLET = "ward-3-tablet"
XSS = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=30)
WAIT_S = 20.0  # a deadline against a hang, never a measurement
T = TypeVar("T")

if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    if os.environ.get("ZONEGATE_REQUIRE_SERVICES") == "1":
        pytest.fail("chromium and chromedriver are required (scripts/install-system-deps.sh)",
                    pytrace=False)
    pytest.skip("chromium/chromedriver not installed (scripts/install-system-deps.sh)",
                allow_module_level=True)


def _alert(n: int, rule: str, severity: int, device: str | None, ip: str,
           message: str) -> dict[str, object]:
    doc: dict[str, object] = {
        "@timestamp": (T0 + timedelta(minutes=37 * n)).isoformat().replace("+00:00", "Z"),
        "event": {"kind": "alert", "category": ["network", "intrusion_detection"],
                  "severity": severity, "id": f"alert-{n:03d}"},
        "rule": {"id": rule, "name": rule.replace("_", " "), "ruleset": "zonegate-monitor"},
        "source": {"ip": ip}, "destination": {"ip": "10.0.9.9", "port": 443},
        "message": message,
    }
    if device is not None:
        doc["device"] = {"id": device}
    return doc


def seed(store: Store) -> None:
    """Devices, alerts (one carrying markup) and decisions for the console to show."""
    store.devices.upsert(DeviceObservation(id=TABLET, seen_at=T0, mac="02:00:00:00:03:01",
                                           ips=("10.0.3.1",), vendor="Acme Medical",
                                           hostname="ward3-tab", device_class="tablet"))
    store.devices.set_trust(TABLET, "trusted", by="olga")
    store.devices.upsert(DeviceObservation(id="cam-7", seen_at=T0, ips=("10.0.0.7",),
                                           vendor="Hikvision", device_class="camera"))
    alerts = [
        _alert(1, "beaconing", 80, TABLET, "10.0.3.1", "periodic beacon to 203.0.113.9"),
        _alert(2, "port_scan_horizontal", 73, "cam-7", "10.0.0.7", "scan of 40 hosts"),
        _alert(3, "telnet_bruteforce", 55, "cam-7", "10.0.0.7", "12 telnet logins"),
        _alert(4, "dns_dga", 40, None, "10.0.5.5", XSS),
    ] + [_alert(n, "new_destination", 20, "cam-7", "10.0.0.7", f"new peer {n}")
         for n in range(5, 30)]
    store.alerts.ingest_many(alerts, by="monitor")
    reasons = [("device-quarantined",), ("zone-not-permitted",), ("zone-not-permitted",),
               ("device-unmanaged",), ()]
    store.decisions.record_many(
        DecisionRecord(decision_id=f"d-{n}", time=T0 + timedelta(minutes=n), subject="doctor",
                       device=TABLET, zone="health", method="GET", path=f"/records/{n}",
                       allow=not reasons[n % 5], reasons=reasons[n % 5], level="L4")
        for n in range(20))


@dataclass
class Stack:
    loop: asyncio.AbstractEventLoop
    console: str
    gateway: str
    token_endpoint: str
    device_tls: ssl.SSLContext
    store: Store

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(WAIT_S)

    def password_token(self, user: str) -> str:
        async def fetch() -> str:
            form = {"grant_type": "password", "username": user,
                    "password": f"{user}-demo-password", "client_id": "zonegate-cli",
                    "client_secret": "zonegate-cli-dev-secret"}
            async with aiohttp.ClientSession() as session, session.post(
                    self.token_endpoint, data=form) as resp:
                assert resp.status == 200, await resp.text()
                return str((await resp.json())["access_token"])
        return self.run(fetch())

    def through_gateway(self, token: str) -> tuple[int, dict[str, Any]]:
        async def fetch() -> tuple[int, dict[str, Any]]:
            connector = aiohttp.TCPConnector(ssl=self.device_tls)
            async with aiohttp.ClientSession(connector=connector) as session, session.get(
                    f"{self.gateway}/zones/health/records/7",
                    headers={"Authorization": f"Bearer {token}"}) as resp:
                return resp.status, await resp.json()
        return self.run(fetch())


async def _serve(tmp: Path, ready: threading.Event, stop: asyncio.Event,
                 out: dict[str, Any]) -> None:
    """Run the stack on this thread's loop until `stop`.

    The embedded engine binds a regorus engine to the first thread that evaluates (this
    one), and a regorus engine must be dropped on the thread that made it: so everything
    is made and collected here.
    """
    await _run_stack(tmp, ready, stop, out)
    gc.collect()


async def _run_stack(tmp: Path, ready: threading.Event, stop: asyncio.Event,
                     out: dict[str, Any]) -> None:
    async with DevIdP.start(demo_config(), "127.0.0.1", 0) as idp:
        ca = CertificateAuthority.init(tmp / "ca", "city.example")
        server = ca.issue(zone="edge", kind="svc", name="gateway", usages=("server",),
                          ip_addresses=("127.0.0.1",))
        tablet = ca.issue(zone="health", kind="device", name=TABLET)
        assert server.key_pem is not None and tablet.key_pem is not None
        for name, issued in (("gw", server), ("tablet", tablet)):
            (tmp / f"{name}.crt").write_bytes(issued.chain_pem)
            (tmp / f"{name}.key").write_bytes(issued.key_pem or b"")
        device_tls = ssl.create_default_context(cafile=str(tmp / "ca" / "ca.pem"))
        device_tls.load_cert_chain(tmp / "tablet.crt", tmp / "tablet.key")

        url = f"sqlite:///{tmp / 'zonegate.db'}"
        store = Store.open(url)
        store.migrate()
        seed(store)
        upstream, up_runner = await start_upstream()
        tls = (f"tls:\n  cert: {tmp / 'gw.crt'}\n  key: {tmp / 'gw.key'}\n"
               f"  client_ca: {tmp / 'ca' / 'ca.pem'}\n  client_cert: required\n")
        gw_config = resolve_paths(gateway_config(idp.issuer, idp.jwks_uri, upstream.url, tls),
                                  tmp)
        cp_config = gateway_config(idp.issuer, idp.jwks_uri, upstream.url)
        gw_auth = build_authenticator(gw_config, tmp / "ca")
        cp_auth = build_authenticator(cp_config)
        # the gateway reads quarantines through its own engine, as a second process would
        gw_store = Store.open(url)
        trust = StoreTrustSource(gw_store.quarantines, interval=0.2)
        await trust.start()
        options = GatewayRuntimeOptions(**{**TEST_OPTIONS, "audit_log": tmp / "audit.jsonl",
                                           "segments": {"hospital-net": ("127.0.0.0/8",)}})
        audit = AuditLog.open(options.audit_log)
        engine = build_engine(PolicyConfig(engine="embedded", bundle=POLICIES))
        gateway = build_gateway(gw_config, options, authenticator=gw_auth, engine=engine,
                                inspector=INSPECTOR, audit=audit,
                                devices=StoreDeviceSource(trust))
        listener = await start_listener(gateway, "127.0.0.1", 0,
                                        ssl_context=server_context(gw_config.tls)
                                        if gw_config.tls is not None else None)
        app = build_app(cp_config, store=store, authenticator=cp_auth)
        control = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0,
                                                log_level="warning", lifespan="off"))
        serving = asyncio.create_task(control.serve())
        try:
            while not control.started:
                if serving.done():
                    serving.result()  # raises why it stopped
                await asyncio.sleep(0.01)
            port = control.servers[0].sockets[0].getsockname()[1]
            out["stack"] = Stack(loop=asyncio.get_running_loop(),
                                 console=f"http://127.0.0.1:{port}/console/",
                                 gateway=f"https://127.0.0.1:{listener.port}",
                                 token_endpoint=idp.token_endpoint, device_tls=device_tls,
                                 store=store)
            ready.set()
            await stop.wait()
        finally:
            control.should_exit = True
            await serving
            await listener.stop()
            await gateway.close()
            await asyncio.to_thread(audit.close)
            await trust.close()
            await gw_auth.close()
            await cp_auth.close()
            await up_runner.cleanup()
            gw_store.close()
            store.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("console")
    ready = threading.Event()
    out: dict[str, Any] = {}
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    failure: list[BaseException] = []

    def main() -> None:
        try:
            loop.run_until_complete(_serve(tmp, ready, stop, out))
        except BaseException as exc:  # reported by the fixture below
            failure.append(exc)
            ready.set()
        finally:
            loop.close()

    thread = threading.Thread(target=main, name="console-stack", daemon=True)
    thread.start()
    ready.wait(60)
    if failure:
        raise failure[0]
    assert "stack" in out, "the stack did not start"
    yield out["stack"]
    loop.call_soon_threadsafe(stop.set)
    thread.join(30)
    if failure:
        raise failure[0]


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


# --- browser helpers ---------------------------------------------------------------------

def wait_for(driver: WebDriver, css: str, text: str | None = None) -> WebElement:
    """The first element matching `css` (containing `text`), once the view has loaded."""
    def found(d: WebDriver) -> WebElement | bool:
        for el in d.find_elements(By.CSS_SELECTOR, css):
            if text is None or text in el.text:
                busy = d.find_elements(By.CSS_SELECTOR, "#view[aria-busy=true]")
                return False if busy else el
        return False
    try:
        element: WebElement = WebDriverWait(
            driver, WAIT_S, poll_frequency=0.05,
            ignored_exceptions=(StaleElementReferenceException,)).until(found)
    except WebDriverException:
        shot(driver, f"failed-{css.strip('#.').replace(' ', '_')[:40]}")
        raise
    return element


def shot(driver: WebDriver, name: str) -> None:
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def sign_in(driver: WebDriver, stack: Stack, token: str) -> None:
    driver.get(stack.console)
    driver.execute_script("sessionStorage.clear()")
    driver.get(stack.console + "#/alerts")

    def typed(d: WebDriver) -> bool:
        # the sign-in view may re-render between finding the field and typing into it
        field = wait_for(d, "#token")
        field.clear()
        field.send_keys(token)
        d.find_element(By.ID, "token-submit").click()
        return True

    WebDriverWait(driver, WAIT_S, poll_frequency=0.05,
                  ignored_exceptions=(StaleElementReferenceException,)).until(typed)


# --- the tour ----------------------------------------------------------------------------

def test_a_bad_token_is_refused_and_stays_on_sign_in(browser: WebDriver, stack: Stack) -> None:
    sign_in(browser, stack, "not-a-jwt")
    assert wait_for(browser, "#signin-feedback .error").text
    assert browser.execute_script("return sessionStorage.length") == 0
    shot(browser, "00-bad-token")


def test_analyst_triages_an_alert(browser: WebDriver, stack: Stack) -> None:
    sign_in(browser, stack, stack.password_token("analyst"))
    queue = wait_for(browser, "#alert-queue")
    assert wait_for(browser, "#actor").text == "analyst"
    assert "Policy" not in browser.find_element(By.ID, "nav").text  # not an officer
    assert len(queue.find_elements(By.CSS_SELECTOR, "tbody tr")) == 29
    assert browser.find_elements(By.CSS_SELECTOR, "#alerts-over-time rect.bar")
    groups = wait_for(browser, "#alert-groups")
    assert "cam-7" in groups.text and "port_scan_horizontal" in groups.text
    shot(browser, "01-alert-queue")

    row = queue.find_element(By.CSS_SELECTOR, "tr[data-key=alert-001]")
    assert row.find_element(By.CSS_SELECTOR, ".sev").text == "80"
    row.find_element(By.CSS_SELECTOR, "td.message a").click()
    assert wait_for(browser, "#alert-status").text == "new"
    wait_for(browser, "#comment-body").send_keys("beacon to a known C2 range; checking ward 3")
    browser.find_element(By.ID, "add-comment").click()
    wait_for(browser, "#alert-timeline", "analyst: beacon to a known C2 range")
    browser.find_element(By.CSS_SELECTOR, "button[data-status=triaged]").click()
    assert wait_for(browser, "#alert-status", "triaged").text == "triaged"
    shot(browser, "02-alert-triaged")

    stored = stack.store.alerts.get("alert-001")
    assert stored.status == "triaged"
    comments = stack.store.alerts.comments("alert-001")
    assert [(c.author, c.body) for c in comments] == [
        ("analyst", "beacon to a known C2 range; checking ward 3")]


def test_markup_in_an_alert_is_shown_as_text(browser: WebDriver, stack: Stack) -> None:
    sign_in(browser, stack, stack.password_token("analyst"))
    queue = wait_for(browser, "#alert-queue")
    cell = queue.find_element(By.CSS_SELECTOR, "tr[data-key=alert-004] td.message")
    assert cell.text == XSS
    assert cell.find_elements(By.CSS_SELECTOR, "script, img") == []
    browser.get(stack.console + "#/alerts/alert-004")
    assert wait_for(browser, "#alert-message").text == XSS
    assert browser.execute_script("return window.__pwned === undefined") is True
    shot(browser, "03-markup-as-text")


def test_analyst_may_not_quarantine(browser: WebDriver, stack: Stack) -> None:
    sign_in(browser, stack, stack.password_token("analyst"))
    wait_for(browser, "#alert-queue")
    browser.get(stack.console + f"#/devices/{TABLET}")
    assert wait_for(browser, "#effective-trust").text == "trusted"
    assert browser.find_elements(By.ID, "quarantine-form") == []


def test_decision_search_and_chart(browser: WebDriver, stack: Stack) -> None:
    sign_in(browser, stack, stack.password_token("analyst"))
    wait_for(browser, "#alert-queue")
    browser.get(stack.console + "#/decisions")
    wait_for(browser, "#decision-results")
    labels = [el.text for el in browser.find_elements(
        By.CSS_SELECTOR, "#decisions-by-reason text.label")]
    assert labels[0] == "zone-not-permitted"  # the most frequent reason comes first
    assert set(labels) == {"zone-not-permitted", "device-quarantined", "device-unmanaged",
                           "(allowed)"}
    Select(browser.find_element(By.NAME, "allow")).select_by_value("false")
    browser.find_element(By.NAME, "reason").send_keys("device-unmanaged")
    browser.find_element(By.CSS_SELECTOR, "#decision-filter button").click()
    wait_for(browser, "#decisions-by-reason text.label", "device-unmanaged")
    rows = wait_for(browser, "#decision-results").find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(rows) == 4 and all("device-unmanaged" in r.text for r in rows)
    shot(browser, "04-decisions")


def test_officer_quarantines_and_the_gateway_denies(browser: WebDriver, stack: Stack) -> None:
    doctor = stack.password_token("doctor")
    status, _ = stack.through_gateway(doctor)
    assert status == 200, "the tablet should be served before the quarantine"

    sign_in(browser, stack, stack.password_token("officer"))
    wait_for(browser, "#alert-queue")
    assert "Policy" in browser.find_element(By.ID, "nav").text
    browser.get(stack.console + "#/devices")
    inventory = wait_for(browser, "#device-inventory")
    inventory.find_element(By.CSS_SELECTOR, f"tr[data-key={TABLET}] a").click()
    assert wait_for(browser, "#effective-trust").text == "trusted"
    wait_for(browser, "#quarantine-reason").send_keys("beaconing to 203.0.113.9 (alert-001)")
    browser.find_element(By.ID, "quarantine-submit").click()
    assert wait_for(browser, "#effective-trust", "quarantined").text == "quarantined"
    history = wait_for(browser, "#quarantine-history")
    assert "officer" in history.text and "alert-001" in history.text
    assert browser.find_elements(By.ID, "release")
    shot(browser, "05-device-quarantined")

    active = stack.store.quarantines.active()
    assert [(q.device_id, q.reason) for q in active] == [
        (TABLET, "beaconing to 203.0.113.9 (alert-001)")]

    # the gateway refreshes its snapshot in the background: poll until it answers 403
    loop_deadline = datetime.now(UTC) + timedelta(seconds=WAIT_S)
    status, body = stack.through_gateway(doctor)
    while status == 200 and datetime.now(UTC) < loop_deadline:
        stack.run(asyncio.sleep(0.05))
        status, body = stack.through_gateway(doctor)
    assert status == 403, body
    assert body["error"] == "forbidden" and "device-quarantined" in body["reasons"]

    # the officer releases it and the tablet is served again
    browser.find_element(By.ID, "release").click()
    assert wait_for(browser, "#effective-trust", "trusted").text == "trusted"
    shot(browser, "06-device-released")
    loop_deadline = datetime.now(UTC) + timedelta(seconds=WAIT_S)
    while status == 403 and datetime.now(UTC) < loop_deadline:
        stack.run(asyncio.sleep(0.05))
        status, body = stack.through_gateway(doctor)
    assert status == 200, body


def test_a_token_refused_mid_session_returns_to_sign_in(browser: WebDriver,
                                                        stack: Stack) -> None:
    sign_in(browser, stack, stack.password_token("officer"))
    wait_for(browser, "#alert-queue")
    browser.execute_script("sessionStorage.setItem('zonegate.console.token', 'expired')")
    browser.get(stack.console + "#/devices")  # the next API call is refused with 401
    feedback = wait_for(browser, "#signin-feedback .error")
    assert feedback.text
    assert browser.execute_script("return sessionStorage.length") == 0
    shot(browser, "07-signed-out")


def test_officer_sees_a_rejected_policy_upload(browser: WebDriver, stack: Stack,
                                               tmp_path: Path) -> None:
    broken = tmp_path / "broken.rego"
    broken.write_text("package zonegate.authz\n\ndecision := {\n", encoding="utf-8")
    sign_in(browser, stack, stack.password_token("officer"))
    wait_for(browser, "#alert-queue")
    browser.get(stack.console + "#/policies")
    assert "No revision is active" in wait_for(browser, "#policy-active").text
    browser.find_element(By.ID, "policy-files").send_keys(str(broken))
    browser.find_element(By.CSS_SELECTOR, "#policy-upload button").click()
    error = wait_for(browser, "#policy-feedback .error")
    assert "failed its checks or tests" in error.text
    assert browser.find_elements(By.CSS_SELECTOR, "#policy-failures li")
    shot(browser, "08-policy-rejected")
    rejected = [r for r in stack.store.policies.revisions() if not r.tests_passed]
    assert len(rejected) == 1
    browser.refresh()
    row = wait_for(browser, f"#policy-revisions tr[data-key='{rejected[0].revision}']")
    assert "rejected" in row.text


# --- the policy lifecycle in the browser ---------------------------------------------------

def _policy_files(zones: list[str]) -> dict[str, bytes]:
    data = {"zonegate": {"zones": {"open": zones}}}
    return {"authz.rego": AUTHZ.encode(), "authz_test.rego": TESTS.encode(),
            "data.json": json.dumps(data).encode()}


def _active_via_api(stack: Stack, token: str) -> str | None:
    """The active revision as the API reports it (None: 404, nothing active)."""
    with httpx.Client(base_url=stack.console.removesuffix("/console/"),
                      headers={"Authorization": f"Bearer {token}"}, timeout=WAIT_S) as api:
        answer = api.get("/api/policies/active")
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    return str(answer.json()["revision"])


def _row_button(driver: WebDriver, revision: str, label: str) -> WebElement:
    row = wait_for(driver, f"#policy-revisions tr[data-key='{revision}']")
    return next(b for b in row.find_elements(By.TAG_NAME, "button") if b.text == label)


def test_officer_uploads_activates_diffs_and_rolls_back(browser: WebDriver, stack: Stack,
                                                        tmp_path: Path) -> None:
    token = stack.password_token("officer")
    sign_in(browser, stack, token)
    wait_for(browser, "#alert-queue")
    browser.get(stack.console + "#/policies")
    wait_for(browser, "#policy-upload")
    before = _active_via_api(stack, token)

    # an archive that is no archive: refused, said plainly, nothing changes in force
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"\x1f\x8b not really gzip")
    browser.find_element(By.ID, "policy-bundle").send_keys(str(junk))
    browser.find_element(By.CSS_SELECTOR, "#bundle-upload button").click()
    refused = wait_for(browser, "#policy-feedback .error", "not a readable .tar.gz")
    assert wait_for(browser, "#policy-feedback").text == refused.text  # no stray "null"
    assert _active_via_api(stack, token) == before

    # v1: Rego and data files through the files form, activated as its tests pass
    v1_dir = tmp_path / "v1"
    v1_dir.mkdir()
    for name, raw in _policy_files(["open"]).items():
        (v1_dir / name).write_bytes(raw)
    browser.find_element(By.ID, "policy-files").send_keys(
        "\n".join(str(p) for p in sorted(v1_dir.iterdir())))
    assert browser.find_element(By.ID, "policy-activate").is_selected()
    browser.find_element(By.CSS_SELECTOR, "#policy-upload button").click()
    done = wait_for(browser, "#policy-feedback .ok", "uploaded: active").text
    v1 = done.removeprefix("revision ").split(" uploaded")[0]
    assert v1.startswith("sha256:")
    active = wait_for(browser, "#policy-active")
    assert v1 in active.text and "tests passed" in active.text
    in_store = stack.store.policies.active()
    assert in_store is not None and _active_via_api(stack, token) == v1 == in_store.revision
    shot(browser, "09-policy-v1-active")

    # v2: a changed bundle (transport opened) through the bundle form, not activated yet
    v2 = "console-v2"
    members = {**_policy_files(["open", "transport"]),
               ".manifest": json.dumps({"revision": v2}).encode()}
    bundle = tmp_path / "v2.tar.gz"
    write_archive(bundle, members)
    browser.find_element(By.ID, "policy-activate").click()  # uncheck: upload, test, keep
    browser.find_element(By.ID, "policy-bundle").send_keys(str(bundle))
    browser.find_element(By.CSS_SELECTOR, "#bundle-upload button").click()
    wait_for(browser, "#policy-feedback .ok", f"revision {v2} uploaded: accepted")
    row = wait_for(browser, f"#policy-revisions tr[data-key='{v2}']")
    assert "passed" in row.text and "accepted" in row.text
    assert v1 in wait_for(browser, "#policy-active").text  # nothing changed in force
    assert _active_via_api(stack, token) == v1
    shot(browser, "10-policy-v2-tested")

    # activate v2: it is in force, with its test report on the page
    _row_button(browser, v2, "Activate").click()
    wait_for(browser, "#policy-feedback .ok", f"revision {v2} activated")
    active = wait_for(browser, "#policy-active", v2)
    assert "tests passed" in active.text
    active.find_element(By.TAG_NAME, "summary").click()  # open the test report
    report = active.find_element(By.CSS_SELECTOR, "details pre").text
    assert '"pass": 2' in report and "test_open_allowed" in report \
        and "test_health_denied" in report
    assert _active_via_api(stack, token) == v2
    shot(browser, "11-policy-v2-active")

    # the diff of v2 against the revision before it: data.json opens transport
    _row_button(browser, v2, "Diff").click()
    heading = wait_for(browser, "#policy-diff h3", "against")
    assert heading.text == f"Diff {v2} against {v1}"
    wait_for(browser, "#policy-diff pre.diff")
    files = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "#policy-diff h4")]
    assert files == [".manifest", "data.json"]  # the tests and the Rego are unchanged
    lines = {kind: [s.text for s in browser.find_elements(
        By.CSS_SELECTOR, f"#policy-diff pre.diff span.{kind}")] for kind in ("add", "del")}
    assert any('"transport"' in line for line in lines["add"] if not line.startswith("+++"))
    assert not any('"transport"' in line for line in lines["del"])
    assert "null" not in browser.find_element(By.ID, "policy-diff").text
    browser.execute_script("arguments[0].scrollIntoView()", heading)
    shot(browser, "12-policy-diff")

    # roll back: v1 is in force again, and the history says who did what
    browser.find_element(By.ID, "policy-rollback").click()
    wait_for(browser, "#policy-feedback .ok", f"rolled back to {v1}")
    assert v1 in wait_for(browser, "#policy-active", v1).text
    assert _active_via_api(stack, token) == v1
    history = wait_for(browser, "#policy-history")
    kinds = [r.text for r in history.find_elements(By.CSS_SELECTOR, "tbody tr")][:3]
    assert [k.split()[-2:] for k in kinds] == [["officer", "rollback"], ["officer", "activate"],
                                               ["officer", "activate"]]
    assert v2 in kinds[1] and v1 in kinds[0] and v1 in kinds[2]
    browser.execute_script("arguments[0].scrollIntoView()", history)
    shot(browser, "13-policy-rolled-back")
