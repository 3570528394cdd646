"""The pieces of a scale-out deployment on one machine, as real processes.

`Deployment` holds the files every process shares (a pki/ CA with a server certificate
for every listener and a device certificate, the bundle signing key pair, the gateways'
assertion key), and writes the configuration of each process: the control plane
(`zonegate serve --role control`), an ingress replica (`zonegate serve --role ingress`)
and nginx in front of the replicas. `Process` runs one of them with its log in a file, so a
chatty process can never block on a full pipe and a failure can show what it logged.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import ssl
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.idp import DevIdP, demo_config
from gateway.store import Store
from pki.authority import CertificateAuthority
from tests.gateway.ingress.conftest import Upstream, start_upstream
from tests.gateway.store.conftest import PG_DB, PG_HOST, PG_PORT, pg_user

TRUST_DOMAIN = "city.example"
POLICIES = Path(__file__).resolve().parents[2] / "policies"
CLI = (sys.executable, "-c", "import sys; from gateway.cli import main; sys.exit(main())")
DEVICE = "cam-7"  # the device certificate's name, and its id in the inventory
BUNDLE_KEY_ID = "zonegate-scaleout"


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def policy_files(grant_engineers_post: bool) -> dict[str, str]:
    """policies/ as an upload; the new revision lets traffic engineers POST open data."""
    files = {path.relative_to(POLICIES).as_posix(): path.read_text(encoding="utf-8")
             for path in sorted(POLICIES.rglob("*")) if path.suffix in (".rego", ".json")}
    if grant_engineers_post:
        zones = json.loads(files["data/zones.json"])
        zones["open"]["grants"].append({"roles": ["traffic-engineer"], "methods": ["POST"]})
        files["data/zones.json"] = json.dumps(zones, indent=2)
    return files


@dataclass(frozen=True)
class Deployment:
    """Shared files and the configuration writer of every process."""

    root: Path
    store_url: str
    issuer: str
    jwks_uri: str
    upstream: str

    @property
    def ca_pem(self) -> Path:
        return self.root / "ca" / "ca.pem"

    @property
    def published(self) -> Path:
        return self.root / "published" / "zonegate.tar.gz"

    @classmethod
    def create(cls, root: Path, store_url: str, idp: DevIdP, upstream: str) -> Deployment:
        ca = CertificateAuthority.init(root / "ca", TRUST_DOMAIN)
        server = ca.issue(zone="edge", kind="svc", name="gateway", usages=("server",),
                          dns_names=("localhost",), ip_addresses=("127.0.0.1",))
        device = ca.issue(zone="transport", kind="device", name=DEVICE)
        for name, issued in (("server", server), ("device", device)):
            assert issued.key_pem is not None
            (root / f"{name}.crt").write_bytes(issued.chain_pem)
            (root / f"{name}.key").write_bytes(issued.key_pem)
        bundle_key = ec.generate_private_key(ec.SECP256R1())
        (root / "bundle-signing.key").write_bytes(_pem_key(bundle_key))
        (root / "bundle-public.pem").write_bytes(bundle_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        (root / "assertion.key").write_bytes(_pem_key(ec.generate_private_key(ec.SECP256R1())))
        (root / "published").mkdir()
        return cls(root, store_url, idp.issuer, idp.jwks_uri, upstream)

    def client_tls(self, *, device: bool = False) -> ssl.SSLContext:
        """A client context trusting the CA, presenting the device certificate if asked."""
        context = ssl.create_default_context(cafile=str(self.ca_pem))
        if device:
            context.load_cert_chain(self.root / "device.crt", self.root / "device.key")
        return context

    def _common(self) -> str:
        return f"""trust_domain: {TRUST_DOMAIN}
tls:
  cert: {self.root / 'server.crt'}
  key: {self.root / 'server.key'}
  client_ca: {self.ca_pem}
  client_cert: optional
  crl: {self.root / 'ca' / 'crl.pem'}
  trusted_xfcc_from: ["127.0.0.1/32"]   # nginx, the only front proxy
identity:
  oidc:
    - {{issuer: "{self.issuer}", audience: zonegate, jwks_uri: "{self.jwks_uri}"}}
zones:
  - {{name: open, prefix: /zones/open/, upstream: "{self.upstream}", level: L1}}
store: "{self.store_url}"
"""

    def control_config(self, port: int) -> Path:
        path = self.root / "control.yaml"
        path.write_text(self._common() + f"""listen: {{control: "127.0.0.1:{port}"}}
policy: {{verification_key: {self.root / 'bundle-public.pem'}}}
control:
  publish_bundle: {self.published}
  bundle_signing_key: {self.root / 'bundle-signing.key'}
  bundle_key_id: {BUNDLE_KEY_ID}
""")
        return path

    def gateway_config(self, name: str, port: int) -> Path:
        path = self.root / f"{name}.yaml"
        path.write_text(self._common() + f"""listen: {{ingress: "127.0.0.1:{port}"}}
policy:
  engine: embedded
  bundle: {self.published}
  verification_key: {self.root / 'bundle-public.pem'}
  reload_interval_seconds: 0.2
  cache_ttl_seconds: null
ingress:
  device_trust: store
  trust_refresh_seconds: 0.2
  signing_key: {self.root / 'assertion.key'}
""")
        return path

    def nginx_config(self, port: int, replicas: list[int]) -> Path:
        """nginx as the test's own process: no daemon, no master, every path under root."""
        work = self.root / "nginx"
        work.mkdir(exist_ok=True)
        servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=0;" for p in replicas)
        temp = "\n".join(f"  {kind}_temp_path {work / kind};"
                         for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        path = work / "nginx.conf"
        path.write_text(f"""daemon off;
master_process off;
pid {work / 'nginx.pid'};
error_log {work / 'error.log'} notice;
events {{ worker_connections 256; }}
http {{
  access_log {work / 'access.log'};
{temp}
  # the client certificate nginx verified, forwarded Envoy-style; no header without one,
  # and a client's own X-Forwarded-Client-Cert is always overwritten
  map $ssl_client_escaped_cert $zonegate_xfcc {{
    "" "";
    default "Cert=\\"$ssl_client_escaped_cert\\"";
  }}
  upstream zonegate_gateways {{
{servers}
    keepalive 8;
  }}
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {self.root / 'server.crt'};
    ssl_certificate_key {self.root / 'server.key'};
    ssl_client_certificate {self.ca_pem};
    ssl_verify_client optional;
    ssl_verify_depth 3;
    location / {{
      proxy_pass https://zonegate_gateways;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-Client-Cert $zonegate_xfcc;
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate {self.ca_pem};
      proxy_ssl_name localhost;
      proxy_ssl_session_reuse on;
      add_header X-Served-By $upstream_addr always;
    }}
  }}
}}
""")
        return path


class Process:
    """One child process whose stdout and stderr go to `log`."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.name = name
        self.proc = proc
        self.log = log

    @classmethod
    async def start(cls, name: str, argv: list[str], log: Path) -> Process:
        with log.open("wb") as out:  # the child keeps its own copy of the descriptor
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out)
        return cls(name, proc, log)

    def tail(self, lines: int = 15) -> str:
        text = self.log.read_text(errors="replace").splitlines()[-lines:]
        return f"--- {self.name} (exit {self.proc.returncode}) ---\n" + "\n".join(text)

    def check_running(self) -> None:
        if self.proc.returncode is not None:
            raise AssertionError(f"{self.name} exited early\n{self.tail()}")

    async def stop(self, limit: float = 60) -> int | None:
        """SIGTERM and wait; the exit code (None when it had to be killed)."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return await asyncio.wait_for(self.proc.wait(), limit)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
                return None
        return self.proc.returncode


async def until(check: Callable[[], Awaitable[tuple[bool, str]]], what: str,
                watched: list[Process], limit: float = 60) -> float:
    """Poll `check` (it returns done and what it saw) until done and return the seconds it
    took (reported, never asserted); the limit only bounds a failure, it is no service
    level. A watched process that exits fails at once."""
    last = ""
    started = time.monotonic()
    try:
        async with asyncio.timeout(limit):
            while True:
                for process in watched:
                    process.check_running()
                try:
                    done, last = await check()
                except OSError as exc:  # not listening yet, connection reset, ...
                    done, last = False, f"{type(exc).__name__}: {exc}"
                if done:
                    return time.monotonic() - started
                await asyncio.sleep(0.1)
    except TimeoutError:
        logs = "\n".join(p.tail() for p in watched)
        raise AssertionError(f"{what}: never happened; last seen: {last}\n{logs}") from None


# --- fixtures ------------------------------------------------------------------------


@pytest.fixture
def pg_store_url(require_service: Callable[[str, int], None]) -> Iterator[str]:
    """A migrated PostgreSQL schema of its own, as the URL a config file carries."""
    require_service("PostgreSQL", PG_PORT)
    user = pg_user()
    schema = f"zg_test_{os.getpid()}_{uuid.uuid4().hex[:8]}_scaleout"
    base = f"postgresql://{user}@{PG_HOST}:{PG_PORT}/{PG_DB}"
    with Store.open(base, schema=schema) as store:
        store.migrate()
    try:
        # libpq's `options` puts every process of the deployment on the schema
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(host=PG_HOST, port=PG_PORT, dbname=PG_DB, user=user,
                             autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
async def idp() -> AsyncIterator[DevIdP]:
    async with DevIdP.start(demo_config(), "127.0.0.1", 0) as running:
        yield running


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    up, runner = await start_upstream()
    yield up
    await runner.cleanup()
