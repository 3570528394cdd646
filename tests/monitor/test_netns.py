"""Real traffic from real tools between two network namespaces, captured and analysed.

The server namespace runs our own mosquitto (config written here) and a Python HTTP server;
the client namespace runs nmap SYN scans, mosquitto_pub/sub, curl with Basic authentication
and dig. tcpdump captures on the server's veth; `zonegate monitor run --pcap` must raise
exactly the expected alerts. A second test runs the monitor live on the veth.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.cli import main
from tests.conftest import REQUIRE_SERVICES
from tests.monitor import netns as nx

pytestmark = [pytest.mark.netns, pytest.mark.slow]
ZONEGATE = str(Path(sys.executable).with_name("zonegate"))
DGA_NAMES = ["xq7vj2kd9plm4nz8.com", "p0o9i8u7y6t5r4e3w2.net", "zk4j5h6g7f8d9s0a1q.org",
             "m1n2b3v4c5x6z7l8k9.info", "qwz8x7c6v5b4n3m2l1.com", "r9t8y7u6i5o4p3a2s1.net"]
TOOLS = ("mosquitto", "mosquitto_sub", "mosquitto_pub", "nmap", "curl", "dig", "tcpdump", "ss")


@pytest.fixture
def pair(require_tool: Callable[[str], str]) -> Iterator[nx.NetnsPair]:
    for tool in TOOLS:
        require_tool(tool)
    reason = nx.netns_usable()
    if reason is not None:
        if REQUIRE_SERVICES:
            pytest.fail(f"{reason} (ZONEGATE_REQUIRE_SERVICES=1, so this is a failure)")
        pytest.skip(reason)
    with nx.netns_pair(extra_server_ips=nx.EXTRA_HOSTS) as made:
        yield made


def _servers(pair: nx.NetnsPair, tmp_path: Path) -> list[subprocess.Popen[str]]:
    conf = tmp_path / "mosquitto.conf"
    conf.write_text("listener 1883 0.0.0.0\nallow_anonymous true\npersistence false\n"
                    "log_dest none\n")
    webroot = tmp_path / "www"
    webroot.mkdir()
    (webroot / "index.html").write_text("ok\n")
    procs = [
        pair.spawn(pair.server, ["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL),
        pair.spawn(pair.server, [sys.executable, "-m", "http.server", "80", "--bind",
                                 nx.SERVER_IP, "--directory", str(webroot)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    nx.poll(nx.port_listening(pair, pair.server, 1883), what="mosquitto on 1883")
    nx.poll(nx.port_listening(pair, pair.server, 80), what="http server on 80")
    return procs


def _traffic(pair: nx.NetnsPair) -> None:
    c, srv = pair.client, nx.SERVER_IP
    pair.run(c, ["nmap", "-sS", "-Pn", "-n", "-T4", "--max-retries", "0", "-p", "1-100", srv])
    pair.run(c, ["nmap", "-sS", "-Pn", "-n", "-T4", "--max-retries", "0", "-p", "2323",
                 *nx.EXTRA_HOSTS])
    pair.run(c, ["mosquitto_sub", "-h", srv, "-t", "#", "-C", "1", "-W", "5", "-i", "spy"],
             check=False)
    pair.run(c, ["mosquitto_pub", "-h", srv, "-t", "sensors/t1", "-m", "21.5", "-i", "meter"])
    pair.run(c, ["mosquitto_pub", "-h", srv, "-t", "sensors/t2", "-m", "1", "-i", "pole",
                 "-u", "pole7", "-P", "mqtt-pw-55"])
    pair.run(c, ["curl", "-s", "-o", "/dev/null", "-u", "admin:hunter2-xyz",
                 f"http://{srv}/index.html"])
    pair.run(c, ["dig", f"@{srv}", "+tries=1", "+time=1", *DGA_NAMES], check=False)


EXPECTED = Counter({
    "port_scan_vertical": 1, "port_scan_horizontal": 1, "mqtt_anonymous": 1,
    "mqtt_wildcard_subscribe": 1, "cleartext_credentials": 2, "dns_dga": 1,
})


def _opened(path: Path) -> list[dict[str, object]]:
    docs = [json.loads(x) for x in path.read_text().splitlines()]
    return [d for d in docs if d["event"]["action"] == "incident-opened"]  # type: ignore[index]


def test_tool_traffic_captured_with_tcpdump(pair: nx.NetnsPair, tmp_path: Path) -> None:
    procs = _servers(pair, tmp_path)
    pcap = tmp_path / "capture.pcap"
    log = tmp_path / "tcpdump.log"
    with log.open("w") as err:
        dump = pair.spawn(pair.server, ["tcpdump", "-i", pair.server_if, "-B", "8192",
                                        "-U", "-n", "-s", "0",
                                        "-w", str(pcap)], stdout=subprocess.DEVNULL, stderr=err)
    try:
        nx.poll(nx.file_has(log, "listening on"), what="tcpdump to listen")
        _traffic(pair)
        last_label = DGA_NAMES[-1].split(".")[0].encode()
        nx.poll(lambda: last_label in pcap.read_bytes(), what="tcpdump to write the last query")
    finally:
        os.killpg(dump.pid, signal.SIGINT)
        dump.wait(timeout=20)
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
    alerts = tmp_path / "alerts.ndjson"
    assert main(["monitor", "run", "--pcap", str(pcap), "--alerts-out", str(alerts),
                 "--no-live-table"]) == 0
    opened = _opened(alerts)
    assert Counter(d["rule"]["id"] for d in opened) == EXPECTED  # type: ignore[index]
    by_rule = {d["rule"]["id"]: d for d in opened}  # type: ignore[index]
    assert by_rule["mqtt_anonymous"]["destination"] == {"ip": nx.SERVER_IP, "port": 1883}
    assert by_rule["port_scan_horizontal"]["destination"]["port"] == 2323  # type: ignore[index]
    creds = {d["zonegate"]["evidence"]["protocol"]: d["zonegate"]["evidence"]["username"]  # type: ignore[index]
             for d in opened if d["rule"]["id"] == "cleartext_credentials"}  # type: ignore[index]
    assert creds == {"http": "admin", "mqtt": "pole7"}
    text = alerts.read_text()
    assert "hunter2-xyz" not in text and "mqtt-pw-55" not in text
    for doc in opened:
        assert doc["source"]["ip"] == nx.CLIENT_IP  # type: ignore[index]


def test_live_capture_on_the_veth(pair: nx.NetnsPair, tmp_path: Path) -> None:
    procs = _servers(pair, tmp_path)
    alerts = tmp_path / "alerts.ndjson"
    inventory = tmp_path / "inventory.json"
    log = tmp_path / "monitor.err"
    with log.open("w") as err:
        monitor = pair.spawn(pair.server, [
            ZONEGATE, "monitor", "run", "--iface", pair.server_if, "--bpf", "tcp or udp or arp",
            "--alerts-out", str(alerts), "--inventory", str(inventory), "--no-live-table",
            "--duration", "120"], stdout=subprocess.PIPE, stderr=err)
    try:
        nx.poll(nx.file_has(log, f"listening on {pair.server_if}"),
                what="the monitor's capture socket")
        pair.run(pair.client, ["mosquitto_sub", "-h", nx.SERVER_IP, "-t", "$SYS/#", "-C", "1",
                               "-W", "5"], check=False)
        pair.run(pair.client, ["curl", "-s", "-o", "/dev/null", "-u", "cam:pw-live-1",
                               f"http://{nx.SERVER_IP}/index.html"])
        nx.poll(nx.file_has(alerts, "cleartext_credentials"), what="the live alert")
        nx.poll(nx.file_has(alerts, "mqtt_wildcard_subscribe"), what="the live alert")
    finally:
        os.killpg(monitor.pid, signal.SIGINT)
        out, _none = monitor.communicate(timeout=30)
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
    assert monitor.returncode == 0, log.read_text()
    assert "kernel dropped 0 packets" in out
    rules = Counter(d["rule"]["id"] for d in _opened(alerts))  # type: ignore[index]
    assert rules == Counter({"mqtt_anonymous": 1, "mqtt_wildcard_subscribe": 1,
                             "cleartext_credentials": 1})
    devices = json.loads(inventory.read_text())["devices"]
    assert {ip for d in devices for ip in d["ips"]} == {nx.CLIENT_IP, nx.SERVER_IP}
