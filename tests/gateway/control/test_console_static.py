"""The console's static files: every API call it makes is in the access table, and the
code has no way to turn a string into markup or to load anything from elsewhere."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gateway.control.access import ACCESS, PUBLIC
from gateway.control.app import CONSOLE_DIR, CONSOLE_PATH

SCRIPTS = sorted((CONSOLE_DIR / "js").glob("*.js"))
CALL = re.compile(r"""\bapi\.(get|post|put)\(\s*(["'`])(/api/[^"'`]*)\2""")
ANY_API = re.compile(r"""["'`](/api/[^"'`]*)["'`]""")
# sinks that parse a string as HTML or code
SINKS = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
         "new Function", "setTimeout(\"", "srcdoc")


def _calls() -> list[tuple[str, str, str]]:
    found = []
    for script in SCRIPTS:
        for match in CALL.finditer(script.read_text(encoding="utf-8")):
            found.append((script.name, match.group(1).upper(), match.group(3)))
    return found


def test_the_console_is_there_and_mounted_publicly() -> None:
    assert (CONSOLE_DIR / "index.html").is_file()
    assert {s.name for s in SCRIPTS} >= {"main.js", "api.js", "dom.js", "charts.js"}
    assert ACCESS[("GET", CONSOLE_PATH)] is PUBLIC
    config = json.loads((CONSOLE_DIR / "config.json").read_text(encoding="utf-8"))
    assert set(config) == {"token_endpoint", "client_id", "client_secret"}
    assert config["client_secret"] == "", "a secret must not ship in a public static file"


def test_every_api_call_is_in_the_access_table() -> None:
    calls = _calls()
    # the console uses every area of the API the issue names
    paths = {path for _, _, path in calls}
    assert {"/api/me", "/api/alerts", "/api/alerts/{alert_id}/status",
            "/api/devices/{device_id}/quarantine", "/api/devices/{device_id}/release",
            "/api/policies/active", "/api/policies/{revision}/diff",
            "/api/policies/rollback", "/api/decisions"} <= paths
    missing = [(name, method, path) for name, method, path in calls
               if (method, path) not in ACCESS]
    assert not missing, f"console calls outside access.ACCESS: {missing}"


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_no_api_path_escapes_the_checked_calls(script: Path) -> None:
    text = script.read_text(encoding="utf-8")
    literals = [m.group(1) for m in ANY_API.finditer(text)]
    checked = [m.group(3) for m in CALL.finditer(text)]
    assert sorted(literals) == sorted(checked), (
        f"{script.name}: an /api/ path used outside api.get/post/put cannot be checked")


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_no_html_sink_and_nothing_remote(script: Path) -> None:
    text = script.read_text(encoding="utf-8")
    assert [s for s in SINKS if s in text] == []
    assert re.findall(r"https?://[^\s\"'`]+", text) == ["http://www.w3.org/2000/svg"] * (
        text.count("http://www.w3.org/2000/svg")), "no URL but the SVG namespace"


def test_the_page_has_no_inline_code_or_remote_resource() -> None:
    html = (CONSOLE_DIR / "index.html").read_text(encoding="utf-8")
    css = (CONSOLE_DIR / "console.css").read_text(encoding="utf-8")
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []  # a strict CSP can forbid inline
    assert " on" not in re.sub(r"<noscript>.*?</noscript>", "", html).lower().replace(
        "content=", "")  # no inline event handlers
    assert "http" not in html.replace("http-equiv", "") and "url(" not in css
