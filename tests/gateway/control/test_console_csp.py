"""The console is served with `Content-Security-Policy: default-src 'self'; connect-src
'self' <idp origin>`: its own files only, and fetch() to itself and to the IdP's token
endpoint (password sign-in). The API's answers are not the console's and do not carry it."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from gateway.config import parse_config
from gateway.control.app import build_app, console_csp
from gateway.identity import build_authenticator
from gateway.idp import DevIdP, demo_config
from gateway.store import Store
from tests.gateway.control.conftest import Stack


@pytest.mark.parametrize("path", ["/console/", "/console/index.html", "/console/config.json",
                                  "/console/js/main.js", "/console/console.css"])
def test_every_console_answer_carries_the_policy(stack: Stack, path: str) -> None:
    issuer = urlsplit(stack.idp.issuer)
    expected = f"default-src 'self'; connect-src 'self' {issuer.scheme}://{issuer.netloc}"
    response = stack.client(None).get(path)
    assert response.headers.get_list("content-security-policy") == [expected]


def test_the_api_is_not_the_console(stack: Stack) -> None:
    response = stack.client(None).get("/healthz")
    assert response.status_code == 200
    assert "content-security-policy" not in response.headers


@pytest.mark.parametrize(("issuers", "connect"), [
    ([], "'self'"),
    (["https://idp.city.example"], "'self' https://idp.city.example"),
    (["https://idp.city.example/realms/zg", "https://idp.city.example/realms/ops"],
     "'self' https://idp.city.example"),  # one origin, listed once
    (["http://127.0.0.1:9000", "https://login.example:8443/x"],
     "'self' http://127.0.0.1:9000 https://login.example:8443"),
])
def test_connect_src_lists_each_issuer_origin(issuers: list[str], connect: str) -> None:
    oidc = "".join(f"    - {{issuer: '{i}', audience: zonegate}}\n" for i in issuers)
    config = parse_config("trust_domain: city.example\n"
                          + (f"identity:\n  oidc:\n{oidc}" if issuers else ""))
    assert console_csp(config) == f"default-src 'self'; connect-src {connect}"


# --- in a browser: password sign-in from the console, under the policy -----------------
# Headless Chromium (Debian's chromium + chromedriver, selenium) loads the console from a
# control plane on loopback and signs in at a real dev IdP with the public client
# `zonegate-console`. Three IdPs: one that allows the console's origin (CORS) and is in
# the policy's connect-src; one in connect-src that does not allow the origin; one that
# allows the origin but is not a configured issuer (the policy blocks the call).

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WAIT_S = 20.0  # a deadline against a hang, never a measurement


@dataclass
class ConsoleSite:
    console: str
    allowing: str  # token endpoints
    not_allowing: str
    not_configured: str


async def _serve_console(tmp: Path, sock: socket.socket, ready: threading.Event,
                         stop: asyncio.Event, out: dict[str, object]) -> None:
    origin = f"http://127.0.0.1:{sock.getsockname()[1]}"
    allowing = demo_config().model_copy(update={"cors_origins": (origin,)})
    async with DevIdP.start(allowing, "127.0.0.1", 0) as good, \
            DevIdP.start(demo_config(), "127.0.0.1", 0) as closed, \
            DevIdP.start(allowing, "127.0.0.1", 0) as unlisted:
        oidc = "".join(f"    - {{issuer: '{i.issuer}', audience: zonegate, "
                       f"jwks_uri: '{i.jwks_uri}'}}\n" for i in (good, closed))
        config = parse_config(f"trust_domain: city.example\nidentity:\n  oidc:\n{oidc}")
        with Store.open(f"sqlite:///{tmp / 'zonegate.db'}") as store:
            store.migrate()
            authenticator = build_authenticator(config)
            app = build_app(config, store=store, authenticator=authenticator)
            server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
            serving = asyncio.create_task(server.serve(sockets=[sock]))
            try:
                while not server.started:
                    if serving.done():
                        serving.result()  # raises why it stopped
                    await asyncio.sleep(0.01)
                out["site"] = ConsoleSite(f"{origin}/console/", good.token_endpoint,
                                          closed.token_endpoint, unlisted.token_endpoint)
                ready.set()
                await stop.wait()
            finally:
                server.should_exit = True
                await serving
                await authenticator.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleSite]:
    tmp = tmp_path_factory.mktemp("console-csp")
    sock = socket.create_server(("127.0.0.1", 0))
    ready, failure, out = threading.Event(), [], {}
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def main() -> None:
        try:
            loop.run_until_complete(_serve_console(tmp, sock, ready, stop, out))
        except BaseException as exc:  # reported below
            failure.append(exc)
            ready.set()
        finally:
            loop.close()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    if not ready.wait(60) or failure:
        raise RuntimeError(f"the console's control plane did not start: {failure}")
    site = out["site"]
    assert isinstance(site, ConsoleSite)
    yield site
    loop.call_soon_threadsafe(stop.set)
    thread.join(30)
    sock.close()
    assert not failure, failure


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        if os.environ.get("ZONEGATE_REQUIRE_SERVICES") == "1":
            pytest.fail("chromium and chromedriver are required")
        pytest.skip("chromium/chromedriver not installed (scripts/install-system-deps.sh)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def _sign_in(driver: WebDriver, site: ConsoleSite, endpoint: str) -> str:
    """Fill the console's password form; the signed-in actor, or the error shown."""
    driver.delete_all_cookies()
    driver.get(site.console)
    if driver.execute_script("return sessionStorage.length"):
        driver.execute_script("sessionStorage.clear()")
        driver.get(site.console)
    wait = WebDriverWait(driver, WAIT_S, poll_frequency=0.05)
    field = wait.until(lambda d: d.find_element(By.ID, "idp-token-endpoint"))
    field.clear()
    field.send_keys(endpoint)
    driver.find_element(By.ID, "username").send_keys("analyst")
    driver.find_element(By.ID, "password").send_keys("analyst-demo-password")
    driver.find_element(By.ID, "password-submit").click()

    def outcome(d: WebDriver) -> str | bool:
        actor = d.find_elements(By.ID, "actor")
        if actor and actor[0].text:
            return f"signed in as {actor[0].text}"
        feedback = d.find_elements(By.CSS_SELECTOR, "#signin-feedback")
        return feedback[0].text if feedback and feedback[0].text else False

    # signing in replaces the form: an element found a moment before can go stale
    result: str = WebDriverWait(driver, WAIT_S, poll_frequency=0.05, ignored_exceptions=(
        StaleElementReferenceException,)).until(outcome)
    return result


def test_the_console_signs_in_at_an_idp_that_allows_its_origin(
        site: ConsoleSite, browser: WebDriver) -> None:
    assert _sign_in(browser, site, site.allowing) == "signed in as analyst"


@pytest.mark.parametrize("which", ["not_allowing", "not_configured"])
def test_the_sign_in_fails_closed_without_cors_or_outside_the_policy(
        site: ConsoleSite, browser: WebDriver, which: str) -> None:
    result = _sign_in(browser, site, getattr(site, which))
    assert "cannot reach" in result, result
    assert not browser.execute_script("return sessionStorage.length")
