"""Transparent mode for real: a terminal that knows no proxy, redirected by iptables.

Two namespaces made here, joined by a veth pair (10.215.0.0/24): the terminal (.2, default
route via the gateway) and the gateway (.1). In the gateway namespace an iptables
PREROUTING REDIRECT sends the terminal's TCP 80/443 to `zonegate egress run --mode
transparent`, and a recording upstream (ns_upstream.py, a certificate from our pki/) serves
HTTPS and HTTP on 10.215.1.1, an address that exists only there. The proxy resolves the
upstream's names through /etc/netns/<gateway>/hosts (`ip netns exec` mounts it over
/etc/hosts). The terminal's curl dials 10.215.9.9, where nothing listens: a request that
arrives proves the proxy connected to the *name* it judged, not to the address dialled.
The terminal is identified by source IP through the inventory (class `sensor`).
"""

from __future__ import annotations

import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REQUIRE_SERVICES
from tests.gateway.egress.harness import REPO, build_pki, start_proxy, stop_proxy
from tests.monitor import netns as nx

pytestmark = [pytest.mark.netns, pytest.mark.slow]

TERMINAL_IP, GATEWAY_IP = "10.215.0.2", "10.215.0.1"
UPSTREAM_IP = "10.215.1.1"  # only on the gateway namespace's loopback
DIALLED_IP = "10.215.9.9"  # what the terminal connects to; routed via the gateway, unused
TERMINAL_MAC = "02:00:00:00:02:15"
ALLOWED, FORBIDDEN = "api.vendor.example", "paste.evil.example"
PROXY_PORT = 8080  # a fresh namespace: nothing else listens there
RESIDENT_ID = "11010519491231002X"
TOOLS = ("ip", "iptables", "curl")


@dataclass
class Site:
    root: Path
    terminal: str
    record: Path
    alerts: Path

    def curl(self, url: str, *extra: str, name: str = ALLOWED, port: int = 443,
             data: str | None = None) -> tuple[int, str]:
        """curl from the terminal namespace, `name` pinned to DIALLED_IP (no proxy set)."""
        cmd = ["ip", "netns", "exec", self.terminal, "curl", "-sS", "--max-time", "20",
               "--noproxy", "*", "--resolve", f"{name}:{port}:{DIALLED_IP}",
               "--cacert", str(self.root / "ca" / "root.crt"), "-o", "-",
               "-w", "\n%{http_code}"]
        if data is not None:
            cmd += ["-H", "Content-Type: application/json", "--data-binary", data]
        done = subprocess.run([*cmd, *extra, url], capture_output=True, text=True,
                              check=False, timeout=30)
        body, _, status = done.stdout.rpartition("\n")
        return int(status or 0), body or done.stderr

    def alert_docs(self) -> list[dict[str, object]]:
        try:
            return [json.loads(line) for line in self.alerts.read_text().splitlines()]
        except FileNotFoundError:
            return []

    def seen(self) -> list[dict[str, object]]:
        """What reached the upstream (written before it answered)."""
        return [json.loads(line) for line in self.record.read_text().splitlines()]


def _unusable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (ZONEGATE_REQUIRE_SERVICES=1, so this is a failure)")
    pytest.skip(reason)


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True, timeout=30)


def _in(ns: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


def _await_line(proc: subprocess.Popen[str], needle: str, what: str) -> str:
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    line = proc.stdout.readline() if sel.select(timeout=30) else ""
    if needle not in line:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"{what} did not start: {line!r} {err}")
    return line


def _build_network(gateway: str, terminal: str, gw_if: str, term_if: str) -> None:
    for ns in (gateway, terminal):
        _run("ip", "netns", "add", ns)
        _run("ip", "-n", ns, "link", "set", "lo", "up")
        _run(*_in(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"))
    _run("ip", "link", "add", term_if, "netns", terminal, "type", "veth",
         "peer", "name", gw_if, "netns", gateway)
    _run("ip", "-n", terminal, "addr", "add", f"{TERMINAL_IP}/24", "dev", term_if)
    _run("ip", "-n", gateway, "addr", "add", f"{GATEWAY_IP}/24", "dev", gw_if)
    _run("ip", "-n", gateway, "addr", "add", f"{UPSTREAM_IP}/32", "dev", "lo")
    _run("ip", "-n", terminal, "link", "set", term_if, "up")
    _run("ip", "-n", gateway, "link", "set", gw_if, "up")
    _run("ip", "-n", terminal, "route", "add", "default", "via", GATEWAY_IP)
    # nothing is routed past the proxy: the redirect delivers locally, forwarding stays off
    _run(*_in(gateway, "sysctl", "-qw", "net.ipv4.ip_forward=0"))


def _redirect(gateway: str, gw_if: str) -> None:
    try:
        _run(*_in(gateway, "iptables", "-t", "nat", "-A", "PREROUTING", "-i", gw_if, "-p",
                  "tcp", "-m", "multiport", "--dports", "80,443", "-j", "REDIRECT",
                  "--to-ports", str(PROXY_PORT)))
    except subprocess.CalledProcessError as exc:
        _unusable(f"iptables REDIRECT in a namespace failed: {exc.stderr.strip()}")


def _write_inputs(root: Path) -> Path:
    ca = build_pki(root)
    ca.issue(zone="ext", kind="svc", name="vendor-api", usages=("server",),
             dns_names=[ALLOWED, FORBIDDEN]).write(
        root / "vendor.crt", key_out=root / "vendor.key", chain_out=root / "vendor-chain.crt")
    bundle = root / "policies"
    (bundle / "data").mkdir(parents=True)
    shutil.copy(REPO / "policies" / "egress.rego", bundle / "egress.rego")
    (bundle / "data" / "egress.json").write_text(json.dumps({
        "classes": {"sensor": {"max_level": "L2", "destinations": [
            {"host": ALLOWED, "ports": [80, 443], "methods": ["GET", "POST"]}]}},
        "devices": {TERMINAL_MAC: "sensor"}}))
    (root / "inventory.json").write_text(json.dumps({"version": 1, "devices": [{
        "device_id": TERMINAL_MAC, "mac": TERMINAL_MAC, "first_seen": 0.0, "last_seen": 0.0,
        "ips": [TERMINAL_IP], "trust": "trusted"}]}))
    config = root / "egress-transparent.yaml"
    config.write_text("""\
trust_domain: city.example
policy:
  bundle: policies
  cache_ttl_seconds: null
  reload_interval_seconds: null
egress:
  ca: {cert: egress-ca.crt, key: egress-ca.key}
  root: ca/root.crt
  upstream_ca: ca/root.crt
  inventory: inventory.json
  dlp: block
  alerts_out: alerts.ndjson
""")
    return config


def _stop(procs: Sequence[subprocess.Popen[str]], namespaces: Sequence[str]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            with suppress(subprocess.TimeoutExpired):
                proc.communicate(timeout=20)
    for ns in namespaces:  # whatever is left, so that the namespace can go
        found = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
        for pid in found.stdout.split():
            with suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    for tool in TOOLS:
        if shutil.which(tool) is None and shutil.which(tool, path="/usr/sbin:/sbin") is None:
            _unusable(f"{tool} is not installed (scripts/install-system-deps.sh installs it)")
    reason = nx.netns_usable()
    if reason is not None:
        _unusable(reason)
    root = tmp_path_factory.mktemp("transparent")
    tag = secrets.token_hex(3)
    gateway, terminal = f"zge-g-{tag}", f"zge-t-{tag}"
    gw_if, term_if = f"zgeg{tag}", f"zget{tag}"
    netns_etc = Path("/etc/netns")
    made_netns_etc = not netns_etc.exists()
    hosts_dir = netns_etc / gateway
    procs: list[subprocess.Popen[str]] = []
    try:
        _build_network(gateway, terminal, gw_if, term_if)
        _redirect(gateway, gw_if)
        hosts_dir.mkdir(parents=True)
        (hosts_dir / "hosts").write_text(
            f"127.0.0.1 localhost\n{UPSTREAM_IP} {ALLOWED} {FORBIDDEN}\n")
        config = _write_inputs(root)
        record = root / "upstream.ndjson"
        record.touch()
        upstream = subprocess.Popen(
            _in(gateway, sys.executable, str(Path(__file__).with_name("ns_upstream.py")),
                "--address", UPSTREAM_IP, "--cert", str(root / "vendor-chain.crt"),
                "--key", str(root / "vendor.key"), "--record", str(record)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        procs.append(upstream)
        _await_line(upstream, "listening", "the upstream")
        proxy, port = start_proxy(config, "--mode", "transparent", prefix=_in(gateway),
                                  listen=f"0.0.0.0:{PROXY_PORT}")
        procs.append(proxy)
        assert port == PROXY_PORT
        yield Site(root, terminal, record, root / "alerts.ndjson")
        summary = stop_proxy(proxy)
        assert "forwarded" in summary, summary
    finally:
        _stop(procs, (gateway, terminal))
        # deleting a namespace deletes its veth end, addresses and iptables rules
        for ns in (gateway, terminal):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(hosts_dir, ignore_errors=True)
        if made_netns_etc:
            with suppress(OSError):
                netns_etc.rmdir()


def _refusal(body: str) -> dict[str, object]:
    doc: dict[str, object] = json.loads(body)
    assert doc["error"] == "forbidden", doc
    return doc


@pytest.mark.parametrize(("method", "data"), [("GET", None), ("POST", '{"reading": 21.5}')])
def test_an_allowed_name_is_reached_by_name_not_by_the_dialled_address(
        site: Site, method: str, data: str | None) -> None:
    before = len(site.seen())
    status, body = site.curl(f"https://{ALLOWED}/v1/status?x=1", "-X", method, data=data)
    assert status == 200, body
    assert json.loads(body) == {"ok": True, "path": "/v1/status?x=1"}
    [seen] = site.seen()[before:]
    assert (seen["scheme"], seen["sni"], seen["host"], seen["method"], seen["path"]) == (
        "https", ALLOWED, ALLOWED, method, "/v1/status?x=1")
    assert seen["body"] == (data or "")


def test_plain_http_is_judged_and_reached_by_its_host_header(site: Site) -> None:
    before = len(site.seen())
    status, body = site.curl(f"http://{ALLOWED}/v1/ping", port=80)
    assert status == 200, body
    [seen] = site.seen()[before:]
    assert (seen["scheme"], seen["host"], seen["path"]) == ("http", ALLOWED, "/v1/ping")


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_a_forbidden_name_gets_the_refusal_and_an_alert(site: Site, scheme: str) -> None:
    before = len(site.seen())
    port = 443 if scheme == "https" else 80
    status, body = site.curl(f"{scheme}://{FORBIDDEN}/upload", name=FORBIDDEN, port=port)
    assert status == 403, body
    doc = _refusal(body)
    # the policy judged the name the terminal asked for, not the IP it dialled
    assert doc["reasons"] == ["destination-not-permitted"]
    assert doc["destination"] == f"{FORBIDDEN}:{port}"
    assert doc["device"] == TERMINAL_MAC
    assert len(site.seen()) == before

    nx.poll(lambda: any(d["destination"] == {"domain": FORBIDDEN, "port": port}
                        for d in site.alert_docs()), what="the egress_blocked alert")


@pytest.mark.parametrize(("sni", "host_header"), [
    (ALLOWED, FORBIDDEN),  # fronting: an allowed SNI carrying a forbidden Host
    (FORBIDDEN, ALLOWED),
])
def test_sni_and_host_that_disagree_are_refused(site: Site, sni: str, host_header: str) -> None:
    before = len(site.seen())
    status, body = site.curl(f"https://{sni}/v1/status", "-H", f"Host: {host_header}",
                             name=sni)
    assert status == 403, body
    assert "host-mismatch" in _refusal(body)["reasons"]  # type: ignore[operator]
    assert len(site.seen()) == before


def test_a_resident_id_in_the_body_does_not_leave(site: Site) -> None:
    before = len(site.seen())
    status, body = site.curl(f"https://{ALLOWED}/v1/upload",
                             data=json.dumps({"owner": RESIDENT_ID}))
    assert status == 403, body
    assert _refusal(body)["reasons"] == ["data-level-exceeded"]
    assert len(site.seen()) == before
    nx.poll(lambda: any(d["rule"]["id"] == "egress_dlp"  # type: ignore[index]
                        for d in site.alert_docs()), what="the egress_dlp alert")
    assert RESIDENT_ID not in site.alerts.read_text()
