"""A real control plane on loopback: `serve_control` on uvicorn (TLS with certificates
from pki/, client certificates optional), the real dev IdP for tokens, a real store
(SQLite file, or a PostgreSQL schema of its own), a real CA directory and audit log.

Both servers run in one background thread with its own event loop; the tests talk to
them over real HTTP with httpx. Nothing is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from gateway.audit import AuditLog
from gateway.config import GatewayConfig, parse_config
from gateway.control import serve_control
from gateway.idp import DevIdP, demo_config
from gateway.store import DeviceObservation, Store
from pki.authority import CertificateAuthority

TRUST_DOMAIN = "city.example"
MONITOR_ID = f"spiffe://{TRUST_DOMAIN}/zone/edge/svc/monitor"
PG_HOST, PG_PORT, PG_DB = "127.0.0.1", 5432, "test"
# user -> (IdP demo user, roles claim override or None for the demo user's own)
USERS: dict[str, tuple[str, list[str] | None]] = {
    "analyst": ("analyst", None),  # soc-analyst
    "officer": ("officer", None),  # security-officer
    "admin": ("officer", ["admin"]),
    "doctor": ("doctor", None),  # a valid token without any control-plane role
}


@dataclass
class Pki:
    ca_dir: Path
    ca: CertificateAuthority
    files: Path

    def leaf(self, name: str, kind: str = "svc", zone: str = "edge") -> tuple[Path, Path]:
        issued = self.ca.issue(zone=zone, kind=kind, name=name)  # type: ignore[arg-type]
        assert issued.key_pem is not None
        cert, key = self.files / f"{zone}-{kind}-{name}.crt", self.files / f"{name}.key"
        cert.write_bytes(issued.chain_pem)
        key.write_bytes(issued.key_pem)
        return cert, key


@dataclass
class Stack:
    """One running control plane and the handles a test needs to check it."""

    url: str
    idp: DevIdP
    store: Store
    audit_log: Path
    pki: Pki | None
    backend: str
    _clients: list[httpx.Client] = field(default_factory=list)

    def headers(self, user: str = "officer", **claims: Any) -> dict[str, str]:
        name, roles = USERS.get(user, (user, None))
        if roles is not None:
            claims.setdefault("roles", roles)
            claims.setdefault("sub", user)
        return {"Authorization": f"Bearer {self.idp.mint(user=name, **claims)}"}

    def client(self, user: str | None = "officer",
               cert: tuple[Path, Path] | None = None) -> httpx.Client:
        verify: ssl.SSLContext | bool = False
        if self.pki is not None:
            verify = ssl.create_default_context(cafile=str(self.pki.ca_dir / "ca.pem"))
            if cert is not None:
                verify.load_cert_chain(*cert)
        client = httpx.Client(base_url=self.url, verify=verify, timeout=20.0,
                              headers=self.headers(user) if user else None)
        self._clients.append(client)
        return client

    def close_clients(self) -> None:
        for client in self._clients:
            client.close()


def control_config(issuer: str, *, tls: str = "", store: str = "sqlite:///unused.db",
                   ca_dir: Path | None = None, control_extra: str = "") -> GatewayConfig:
    control = f"control:\n  ingesters: [{MONITOR_ID}]\n"
    if ca_dir is not None:
        control += f"  ca_dir: {ca_dir}\n"
    control += control_extra  # more `control:` keys, each line indented by two spaces
    return parse_config(f"""
trust_domain: {TRUST_DOMAIN}
identity:
  oidc:
    - issuer: {issuer}
      audience: zonegate
      jwks_uri: {issuer}/jwks.json
{tls}{control}store: "{store}"
""")


def make_pki(base: Path) -> Pki:
    ca = CertificateAuthority.init(base / "ca", TRUST_DOMAIN)
    server = ca.issue(zone="edge", kind="svc", name="control", usages=("server",),
                      dns_names=("localhost",), ip_addresses=("127.0.0.1",))
    assert server.key_pem is not None
    (base / "control.crt").write_bytes(server.chain_pem)
    (base / "control.key").write_bytes(server.key_pem)
    return Pki(base / "ca", ca, base)


def tls_section(pki: Pki) -> str:
    return (f"tls:\n  cert: {pki.files / 'control.crt'}\n  key: {pki.files / 'control.key'}\n"
            f"  client_ca: {pki.ca_dir / 'ca.pem'}\n  client_cert: optional\n"
            f"  crl: {pki.ca.crl_path}\n")


def write_audit_log(path: Path) -> None:
    log = AuditLog.open(path, sync="always")
    try:
        for n in range(3):
            log.append_sync("request", {"n": n, "path": f"/zones/open/{n}"})
    finally:
        log.close()


@contextlib.contextmanager
def running_stack(tmp: Path, store: Store, *, backend: str, with_tls: bool = True,
                  with_ca: bool = True, control_extra: str = "") -> Iterator[Stack]:
    """Start the IdP and `serve_control` in a background loop; stop both on exit."""
    pki = make_pki(tmp) if with_ca or with_tls else None
    audit_log = tmp / "audit.jsonl"
    write_audit_log(audit_log)
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    started: dict[str, object] = {}
    ready = threading.Event()
    failure: list[BaseException] = []

    async def main() -> None:
        stop = asyncio.Event()
        async with DevIdP.start(demo_config(), "127.0.0.1", 0) as idp:
            config = control_config(
                idp.issuer, tls=tls_section(pki) if with_tls and pki is not None else "",
                ca_dir=pki.ca_dir if with_ca and pki is not None else None,
                control_extra=control_extra)
            started.update(idp=idp, loop=asyncio.get_running_loop(), stop=stop)
            ready.set()
            await serve_control(config, audit_log=audit_log, store=store, sock=sock,
                                stop=stop, handle_signals=False)

    def thread_main() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the test below
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=thread_main, name="control-plane", daemon=True)
    thread.start()
    if not ready.wait(30) or failure:
        raise RuntimeError(f"the control plane did not start: {failure}")
    scheme = "https" if with_tls else "http"
    stack = Stack(url=f"{scheme}://127.0.0.1:{port}", idp=started["idp"],  # type: ignore[arg-type]
                  store=store, audit_log=audit_log, pki=pki, backend=backend)
    probe = stack.client(None)
    for _ in range(200):  # the socket already listens: this waits for the app, not a timer
        try:
            if probe.get("/healthz").status_code == 200:
                break
        except httpx.TransportError:
            if failure:
                raise RuntimeError(f"the control plane failed: {failure}") from None
    else:
        raise RuntimeError("the control plane never answered /healthz")
    try:
        yield stack
    finally:
        stack.close_clients()
        loop: asyncio.AbstractEventLoop = started["loop"]  # type: ignore[assignment]
        stop_event: asyncio.Event = started["stop"]  # type: ignore[assignment]
        loop.call_soon_threadsafe(stop_event.set)
        thread.join(30)
        assert not thread.is_alive(), "the control plane did not stop"
        assert not failure, f"the control plane ended with {failure}"


def seed_devices(store: Store) -> None:
    now = datetime.now(UTC)
    for n, (dev, ip) in enumerate([("cam-13", "10.0.0.13"), ("cam-14", "10.0.0.14"),
                                   ("plc-2", "10.0.0.22")]):
        store.devices.upsert(DeviceObservation(id=dev, seen_at=now, ips=(ip,),
                                               mac=f"02:00:00:00:00:{n + 10:02x}",
                                               vendor="Acme"), by="test")


# --- stores ----------------------------------------------------------------------------

def pg_user() -> str:
    for user in ("postgres", "root"):
        try:
            with psycopg.connect(host=PG_HOST, port=PG_PORT, dbname=PG_DB, user=user,
                                 connect_timeout=3):
                return user
        except psycopg.OperationalError:
            continue
    pytest.fail(f"PostgreSQL on {PG_HOST}:{PG_PORT} accepts neither postgres nor root")


@contextlib.contextmanager
def sqlite_store(tmp: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp / 'zonegate.db'}") as store:
        store.migrate()
        yield store


@contextlib.contextmanager
def postgres_store() -> Iterator[Store]:
    user = pg_user()
    schema = f"zg_control_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    url = f"postgresql://{user}@{PG_HOST}:{PG_PORT}/{PG_DB}"
    try:
        with Store.open(url, schema=schema) as store:
            store.migrate()
            yield store
    finally:
        with psycopg.connect(host=PG_HOST, port=PG_PORT, dbname=PG_DB, user=user,
                             autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One control plane per test module: SQLite, TLS with optional client certificates,
    a CA; the inventory holds cam-13, cam-14 and plc-2."""
    tmp = tmp_path_factory.mktemp("control")
    with sqlite_store(tmp) as store:
        seed_devices(store)
        with running_stack(tmp, store, backend="sqlite") as running:
            yield running


@pytest.fixture(scope="module")
def pg_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The same on a PostgreSQL schema of its own, plain HTTP, no CA."""
    if not _port_open(PG_PORT):
        if os.environ.get("ZONEGATE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"PostgreSQL is not listening on 127.0.0.1:{PG_PORT} "
                        "(ZONEGATE_REQUIRE_SERVICES=1, so this is a failure)")
        pytest.skip(f"PostgreSQL is not listening on 127.0.0.1:{PG_PORT}")
    tmp = tmp_path_factory.mktemp("control-pg")
    with postgres_store() as store:
        seed_devices(store)
        with running_stack(tmp, store, backend="postgresql", with_tls=False,
                           with_ca=False) as running:
            yield running


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


Client = Callable[..., httpx.Client]
