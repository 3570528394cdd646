"""A real egress deployment on loopback for the tests.

A CA (pki/), the interception CA it signs, a device certificate, an HTTPS upstream with a
certificate from the CA and a plain HTTP upstream (both record what reached them), an alert
receiver standing in for the control plane's intake (records the POSTed documents), and
`zonegate egress run` as a subprocess; curl is the terminal.
"""

from __future__ import annotations

import json
import selectors
import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pki.authority import CertificateAuthority
from pki.subordinate import issue_subordinate_ca

REPO = Path(__file__).resolve().parents[3]
ZONEGATE = str(Path(sys.executable).with_name("zonegate"))
CAMERA_MAC = "02:00:00:00:00:05"
SENSOR_IP, QUARANTINED_IP, STRANGER_IP = "127.0.0.5", "127.0.0.6", "127.0.0.7"
QUARANTINED_MAC = "02:00:00:00:00:06"


@dataclass
class Seen:
    """What one upstream or the alert receiver received."""

    requests: list[dict[str, object]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, item: dict[str, object]) -> None:
        with self.lock:
            self.requests.append(item)

    def snapshot(self) -> list[dict[str, object]]:
        with self.lock:
            return list(self.requests)


def _handler(seen: Seen, answer: int) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _record(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            seen.add({"method": self.command, "path": self.path, "body": body,
                      "host": self.headers.get("host")})
            reply = json.dumps({"ok": True, "path": self.path}).encode()
            self.send_response(answer)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_GET = do_POST = do_PUT = _record

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


class Upstream:
    """A threaded HTTP(S) server on 127.0.0.1 that records requests."""

    def __init__(self, tls: ssl.SSLContext | None = None, answer: int = 200) -> None:
        self.seen = Seen()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.seen, answer))
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Deployment:
    root: Path
    ca: CertificateAuthority
    https: Upstream
    http: Upstream
    alerts: Upstream
    impostor: Upstream
    proxy_port: int = 0
    process: subprocess.Popen[str] | None = None

    @property
    def proxy(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    def curl(self, url: str, *extra: str, source: str | None = None,
             cert: bool = False, data: str | None = None,
             content_type: str = "application/json") -> tuple[int, str]:
        """Run curl through the proxy; returns (status, body)."""
        cmd = ["curl", "-sS", "--max-time", "20", "--noproxy", "", "--proxy", self.proxy,
               "--cacert", str(self.root / "ca" / "root.crt"), "-o", "-",
               "-w", "\n%{http_code}"]
        if source is not None:
            cmd += ["--interface", source]
        if cert:
            cmd += ["--cert", str(self.root / "cam-7-chain.crt"),
                    "--key", str(self.root / "cam-7.key")]
        if data is not None:
            cmd += ["-H", f"Content-Type: {content_type}", "--data-binary", data]
        cmd += [*extra, url]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=30)
        body, _, status = done.stdout.rpartition("\n")
        return int(status or 0), body or done.stderr

    def alert_docs(self) -> list[dict[str, object]]:
        return [json.loads(bytes(r["body"])) for r in self.alerts.seen.snapshot()  # type: ignore[arg-type]
                if r["method"] == "POST"]


def build_pki(root: Path) -> CertificateAuthority:
    ca = CertificateAuthority.init(root / "ca", "city.example")
    issue_subordinate_ca(ca).write(root / "egress-ca.crt", root / "egress-ca.key")
    cam = ca.issue(zone="transport", kind="device", name="cam-7")
    cam.write(root / "cam-7.crt", key_out=root / "cam-7.key", chain_out=root / "cam-7-chain.crt")
    server = ca.issue(zone="ext", kind="svc", name="vendor-api", usages=("server",),
                      dns_names=["localhost"], ip_addresses=["127.0.0.1"])
    server.write(root / "upstream.crt", key_out=root / "upstream.key",
                 chain_out=root / "upstream-chain.crt")
    foreign = CertificateAuthority.init(root / "foreign", "city.example")
    rogue = foreign.issue(zone="transport", kind="device", name="cam-7")
    rogue.write(root / "rogue.crt", key_out=root / "rogue.key", chain_out=root / "rogue-chain.crt")
    impostor = foreign.issue(zone="ext", kind="svc", name="vendor-api", usages=("server",),
                             dns_names=["localhost"], ip_addresses=["127.0.0.1"])
    impostor.write(root / "impostor.crt", key_out=root / "impostor.key",
                   chain_out=root / "impostor-chain.crt")
    return ca


def tls_context(root: Path, name: str = "upstream") -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(root / f"{name}-chain.crt", root / f"{name}.key")
    return ctx


def write_policies(root: Path, https_port: int, http_port: int, impostor_port: int) -> Path:
    """egress.rego as shipped, with data naming the loopback upstreams."""
    bundle = root / "policies"
    (bundle / "data").mkdir(parents=True)
    shutil.copy(REPO / "policies" / "egress.rego", bundle / "egress.rego")
    data = {
        "classes": {
            "camera": {"max_level": "L2", "destinations": [
                {"host": "localhost", "ports": [https_port, impostor_port],
                 "methods": ["GET", "POST"]}]},
            "sensor": {"max_level": "L2", "destinations": [
                {"host": "localhost", "ports": [http_port], "methods": ["GET", "POST"]},
                {"host": "localhost", "ports": [https_port], "methods": ["GET"]}]},
        },
        "devices": {"cam-7": "camera", CAMERA_MAC: "sensor", QUARANTINED_MAC: "sensor"},
    }
    (bundle / "data" / "egress.json").write_text(json.dumps(data))
    return bundle


def write_inventory(path: Path) -> None:
    def rec(mac: str, ip: str, trust: str) -> dict[str, object]:
        return {"device_id": mac, "mac": mac, "first_seen": 0.0, "last_seen": 0.0,
                "ips": [ip], "trust": trust}
    path.write_text(json.dumps({"version": 1, "devices": [
        rec(CAMERA_MAC, SENSOR_IP, "trusted"), rec(QUARANTINED_MAC, QUARANTINED_IP, "trusted")]}))


def write_quarantine(path: Path) -> None:
    path.write_text(json.dumps({"version": 1, "devices": [{
        "device_id": QUARANTINED_MAC, "mac": QUARANTINED_MAC, "ips": [QUARANTINED_IP],
        "reason": "telnet_bruteforce", "rule_id": "telnet_bruteforce",
        "since": "2026-01-01T00:00:00Z", "until": None, "source": "monitor"}]}))


def write_config(d: Deployment, *, dlp: str = "block", extra: str = "") -> Path:
    config = d.root / f"egress-{dlp}.yaml"
    config.write_text(f"""\
trust_domain: city.example
policy:
  bundle: policies
  cache_ttl_seconds: null
  reload_interval_seconds: null
egress:
  ca: {{cert: egress-ca.crt, key: egress-ca.key}}
  root: ca/root.crt
  client_ca_dir: ca
  upstream_ca: ca/root.crt
  inventory: inventory.json
  quarantine_file: quarantine.json
  dlp: {dlp}
  alerts_url: http://127.0.0.1:{d.alerts.port}/api/alerts
  alerts_spool: spool-{dlp}.ndjson
  alerts_out: alerts-{dlp}.ndjson
{extra}""")
    return config


def start_proxy(config: Path, *args: str, listen: str = "127.0.0.1:0",
                prefix: Sequence[str] = ()) -> tuple[subprocess.Popen[str], int]:
    """Start `zonegate egress run` (under `prefix`, e.g. `ip netns exec NS`); returns once
    it printed the address it listens on."""
    proc = subprocess.Popen([*prefix, ZONEGATE, "egress", "run", "--config", str(config),
                             "--listen", listen, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    # readiness is the line the proxy prints once it listens; 60 s only guards a hang
    if not sel.select(timeout=60):
        proc.kill()
        raise AssertionError("the egress proxy did not report that it listens")
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"egress proxy failed to start: {line!r} {err}")
    port = int(line.split("listening on ", 1)[1].split(" ", 1)[0].rsplit(":", 1)[1])
    return proc, port


def stop_proxy(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    return out


def deployment(root: Path) -> Iterator[Deployment]:
    ca = build_pki(root)
    https = Upstream(tls_context(root))
    http = Upstream()
    alerts = Upstream(answer=201)
    impostor = Upstream(tls_context(root, "impostor"))  # a certificate from another CA
    write_policies(root, https.port, http.port, impostor.port)
    write_inventory(root / "inventory.json")
    write_quarantine(root / "quarantine.json")
    d = Deployment(root, ca, https, http, alerts, impostor)
    try:
        yield d
    finally:
        for up in (https, http, alerts, impostor):
            up.close()
