"""The monitor's HTTP sink against the real control plane over HTTPS (mTLS or a token).

A control plane (`serve_control` on uvicorn, TLS from pki/, `control.ingesters` naming the
monitor's SPIFFE ID) runs in the test, on SQLite or on PostgreSQL reached through a TCP
relay the test can cut. The monitor's `HttpSink` posts with a pki/-issued service
certificate; what it cannot deliver waits in its spool and is replayed later: every alert
ends up in the store exactly once (ingest is idempotent by alert id).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from scapy.utils import wrpcap

from gateway.cli import main
from gateway.store import Store
from monitor.alerts import Detection, Incident, to_ecs
from monitor.errors import AlertSinkError
from monitor.sinks import HttpSink, SinkCredentials
from pki.authority import CertificateAuthority
from pki.durable import atomic_write
from tests.gateway.control.conftest import (
    PG_DB,
    PG_HOST,
    PG_PORT,
    Stack,
    pg_user,
    running_stack,
    sqlite_store,
)
from tests.monitor import scenarios

INGEST = "/api/alerts"


def _alert(n: int) -> tuple[dict[str, object], Incident]:
    ip = f"10.0.{n // 200}.{n % 200 + 1}"
    det = Detection("telnet_bruteforce", 1_700_000_000.0 + n, (ip,), 90,
                    f"{ip} sent Mirai SYNs", src_ip=ip, dst_ip="10.0.0.77", dst_port=23,
                    transport=6, device_id=f"02:00:00:00:{n // 256:02x}:{n % 256:02x}")
    incident = Incident(f"inc-{n}", det, det, det.ts, det.ts + 1, 3, 90, 1)
    return to_ecs(incident, "incident-opened"), incident


def _ids(store: Store) -> list[str]:
    return sorted(a.id for a in store.alerts.list(limit=500).items)


class _Clock:
    """The sink's back-off clock, moved by the test instead of waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def skip(self) -> None:
        self.now += 3600


def _sink(stack: Stack, spool: Path, clock: _Clock, **creds: Path | None) -> HttpSink:
    assert stack.pki is not None
    ca = creds.pop("ca", stack.pki.ca_dir / "ca.pem")
    return HttpSink(stack.url + INGEST, spool, timeout=20, retry_seconds=60, clock=clock,
                    credentials=SinkCredentials(ca=ca, **creds))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A control plane over TLS on SQLite; the monitor's SPIFFE ID is an ingester."""
    tmp = tmp_path_factory.mktemp("sink-cp")
    with sqlite_store(tmp) as store, running_stack(tmp, store, backend="sqlite") as running:
        yield running


def test_the_monitor_certificate_delivers_and_ingest_is_idempotent(
        stack: Stack, tmp_path: Path) -> None:
    assert stack.pki is not None
    cert, key = stack.pki.leaf("monitor")
    sink = _sink(stack, tmp_path / "spool", _Clock(), cert=cert, key=key)
    before = set(_ids(stack.store))
    docs = [_alert(n) for n in range(100, 103)]
    for doc, incident in docs:
        sink.emit(doc, incident)
    assert sink.delivered == 3 and sink.pending() == 0, sink.last_error
    assert set(_ids(stack.store)) - before == {"inc-100", "inc-101", "inc-102"}
    # the same alerts again (a spool replayed twice after a crash): stored once
    for doc, incident in docs:
        sink.emit(doc, incident)
    assert sink.pending() == 0
    assert len(set(_ids(stack.store)) - before) == 3
    stored = stack.store.alerts.get("inc-101")
    assert stored.rule_id == "telnet_bruteforce"


@pytest.mark.parametrize("who", ["not-an-ingester", "foreign-ca", "no-certificate"])
def test_a_wrong_certificate_is_refused_and_the_spool_is_replayed_later(
        stack: Stack, tmp_path: Path, who: str) -> None:
    assert stack.pki is not None
    base = {"not-an-ingester": 200, "foreign-ca": 300, "no-certificate": 400}[who]
    creds: dict[str, Path | None] = {}
    if who == "not-an-ingester":  # a valid pki/ certificate, but not in control.ingesters
        creds["cert"], creds["key"] = stack.pki.leaf("camera-feed")
    elif who == "foreign-ca":  # same SPIFFE ID, issued by a CA the control plane ignores
        foreign = CertificateAuthority.init(tmp_path / "foreign", "city.example")
        issued = foreign.issue(zone="edge", kind="svc", name="monitor")
        assert issued.key_pem is not None
        (tmp_path / "rogue.crt").write_bytes(issued.chain_pem)
        (tmp_path / "rogue.key").write_bytes(issued.key_pem)
        creds["cert"], creds["key"] = tmp_path / "rogue.crt", tmp_path / "rogue.key"
    spool = tmp_path / "spool.ndjson"
    clock = _Clock()
    refused = _sink(stack, spool, clock, **creds)
    docs = [_alert(n) for n in range(base, base + 4)]
    for doc, incident in docs:
        refused.emit(doc, incident)
        clock.skip()  # every alert is tried, not only the first
    assert refused.delivered == 0 and refused.pending() == 4
    expected = [f"inc-{n}" for n in range(base, base + 4)]
    assert not set(expected) & set(_ids(stack.store))
    if who == "not-an-ingester":
        assert refused.last_error == "HTTP 403"
    elif who == "no-certificate":
        assert refused.last_error == "HTTP 401"

    # the right certificate, the same spool: everything replayed, in order, once
    cert, key = stack.pki.leaf("monitor")
    accepted = _sink(stack, spool, _Clock(), cert=cert, key=key)
    late, incident = _alert(base + 4)
    accepted.emit(late, incident)
    assert accepted.pending() == 0, accepted.last_error
    assert accepted.delivered == 5
    assert set([*expected, f"inc-{base + 4}"]) <= set(_ids(stack.store))
    accepted.close()
    assert not spool.read_bytes().strip()


def test_a_bearer_token_file_is_sent_and_reread(stack: Stack, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(stack.idp.mint(user="officer", roles=["security-officer"]) + "\n")
    clock = _Clock()
    sink = _sink(stack, tmp_path / "spool", clock, token_file=token)
    doc, incident = _alert(500)
    sink.emit(doc, incident)
    assert sink.last_error == "HTTP 403" and sink.pending() == 1  # officers do not ingest
    token.write_text(stack.idp.mint(user="officer", roles=["admin"], sub="svc-admin"))
    clock.skip()
    doc, incident = _alert(501)
    sink.emit(doc, incident)
    assert sink.pending() == 0, sink.last_error
    assert {"inc-500", "inc-501"} <= set(_ids(stack.store))


def test_a_certificate_renewed_in_place_is_used_without_a_restart(
        stack: Stack, tmp_path: Path) -> None:
    assert stack.pki is not None
    # the files the monitor was started with hold a certificate the control plane refuses
    first_cert, first_key = stack.pki.leaf("camera-feed")  # not an ingester: 403
    cert, key = tmp_path / "monitor.crt", tmp_path / "monitor.key"
    cert.write_bytes(first_cert.read_bytes())
    key.write_bytes(first_key.read_bytes())
    clock = _Clock()
    sink = _sink(stack, tmp_path / "spool", clock, cert=cert, key=key)
    doc, incident = _alert(600)
    sink.emit(doc, incident)
    assert sink.last_error == "HTTP 403" and sink.pending() == 1

    # half a renewal: a new certificate beside the old key does not load; the old pair
    # stays in use (still refused), the alert waits, nothing is lost
    new_cert, new_key = stack.pki.leaf("monitor")
    atomic_write(cert, new_cert.read_bytes())
    clock.skip()
    doc, incident = _alert(601)
    sink.emit(doc, incident)
    assert sink.credentials_error is not None
    assert "cannot load the client certificate" in sink.credentials_error
    assert sink.last_error == "HTTP 403" and sink.pending() == 2

    # the renewal completes: the next try uses it and the spool drains, in order
    atomic_write(key, new_key.read_bytes())
    clock.skip()
    doc, incident = _alert(602)
    sink.emit(doc, incident)
    assert sink.pending() == 0, sink.last_error
    assert sink.credentials_error is None
    assert {"inc-600", "inc-601", "inc-602"} <= set(_ids(stack.store))


@pytest.mark.parametrize(("url", "creds", "message"), [
    ("http://127.0.0.1:1/api/alerts", {"token_file": "token"}, "need an https://"),
    ("http://127.0.0.1:1/api/alerts", {"cert": "c", "key": "k"}, "need an https://"),
    ("https://127.0.0.1:1/api/alerts", {"cert": "c"}, "needs both --alerts-cert"),
    ("https://127.0.0.1:1/api/alerts", {"ca": "missing.pem"}, "cannot load the CA bundle"),
    ("https://127.0.0.1:1/api/alerts", {"cert": "token", "key": "token"},
     "cannot load the client certificate"),
    ("https://127.0.0.1:1/api/alerts", {"token_file": "empty"}, "exactly one bearer token"),
    ("https://127.0.0.1:1/api/alerts", {"token_file": "missing"}, "cannot read the token"),
])
def test_unusable_credentials_fail_at_start(tmp_path: Path, url: str, creds: dict[str, str],
                                            message: str) -> None:
    (tmp_path / "token").write_text("abc")
    (tmp_path / "empty").write_text("  \n")
    paths = {k: tmp_path / v for k, v in creds.items()}
    with pytest.raises(AlertSinkError, match=message):
        HttpSink(url, tmp_path / "spool", credentials=SinkCredentials(**paths))


# --- the store goes away under a running control plane ---------------------------------

class Relay:
    """A TCP relay to PostgreSQL that the test can cut (connections dropped) and restore."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.server.getsockname()[1])
        self.up = threading.Event()
        self.up.set()
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.up.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):  # already closed by the other direction
                    sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Drop every connection and refuse new ones: PostgreSQL is unreachable."""
        self.up.clear()
        with self._lock:
            sockets, self._open = self._open, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def restore(self) -> None:
        self.up.set()

    def close(self) -> None:
        self.cut()
        self.server.close()


def _postgres_listening() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def pg_relay_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Relay]]:
    if not _postgres_listening():
        if os.environ.get("ZONEGATE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"PostgreSQL is not listening on {PG_HOST}:{PG_PORT} "
                        "(ZONEGATE_REQUIRE_SERVICES=1, so this is a failure)")
        pytest.skip(f"PostgreSQL is not listening on {PG_HOST}:{PG_PORT}")
    user = pg_user()
    relay = Relay((PG_HOST, PG_PORT))
    schema = f"zg_sink_{os.getpid()}"
    tmp = tmp_path_factory.mktemp("sink-pg")
    try:
        with Store.open(f"postgresql://{user}@127.0.0.1:{relay.port}/{PG_DB}", schema=schema,
                        connect_timeout_s=2) as store:
            store.migrate()
            with running_stack(tmp, store, backend="postgresql") as running:
                yield running, relay
    finally:
        relay.close()
        with psycopg.connect(host=PG_HOST, port=PG_PORT, dbname=PG_DB, user=user,
                             autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_store_down_means_503_spooled_then_replayed_none_lost_none_twice(
        pg_relay_stack: tuple[Stack, Relay], tmp_path: Path) -> None:
    stack, relay = pg_relay_stack
    assert stack.pki is not None
    cert, key = stack.pki.leaf("monitor")
    spool = tmp_path / "spool.ndjson"
    clock = _Clock()
    sink = _sink(stack, spool, clock, cert=cert, key=key)
    first, incident = _alert(600)
    sink.emit(first, incident)
    assert sink.pending() == 0, sink.last_error

    relay.cut()
    try:
        for n in range(601, 606):
            doc, incident = _alert(n)
            sink.emit(doc, incident)
            clock.skip()
        assert sink.last_error == "HTTP 503", sink.last_error
        assert sink.pending() == 5
        # the control plane says why: its store is unreachable
        health = stack.client(None).get("/healthz")
        assert health.status_code == 503
    finally:
        relay.restore()

    # a dead pooled connection may cost one more 503: the sink keeps the alerts and retries
    for _ in range(5):
        clock.skip()
        if sink.replay():
            break
    assert sink.pending() == 0, sink.last_error
    ids = _ids(stack.store)
    assert [i for i in ids if i.startswith("inc-6")] == [f"inc-{n}" for n in range(600, 606)]
    # the spool replayed again (say the sink crashed before rewriting it): no duplicates
    spool.write_text("".join(json.dumps(_alert(n)[0]) + "\n" for n in range(601, 606)))
    sink.replay()
    assert sink.pending() == 0
    assert _ids(stack.store) == ids


# --- `zonegate monitor run` flags and the alerts_http section ----------------------------

def _pcap(tmp_path: Path) -> Path:
    path = tmp_path / "in.pcap"
    wrpcap(str(path), scenarios.mirai_syn())
    return path


def _mirai_alerts(store: Store) -> list[str]:
    return [a.id for a in store.alerts.list(limit=500).items if a.rule_id == "telnet_bruteforce"
            and not a.id.startswith("inc-")]


def test_monitor_run_posts_with_its_certificate(stack: Stack, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert stack.pki is not None
    cert, key = stack.pki.leaf("monitor")
    spool = tmp_path / "spool"
    code = main(["monitor", "run", "--pcap", str(_pcap(tmp_path)), "--no-live-table",
                 "--alerts-url", stack.url + INGEST, "--spool", str(spool),
                 "--alerts-cert", str(cert), "--alerts-key", str(key),
                 "--alerts-ca", str(stack.pki.ca_dir / "ca.pem")])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "spooled" not in out.out
    assert _mirai_alerts(stack.store)
    assert not spool.exists() or not spool.read_bytes().strip()


def test_monitor_config_alerts_http_paths_are_relative_to_the_file(
        stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert stack.pki is not None
    cert, key = stack.pki.leaf("monitor")
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "monitor.crt").write_bytes(cert.read_bytes())
    (conf / "monitor.key").write_bytes(key.read_bytes())
    (conf / "ca.pem").write_bytes((stack.pki.ca_dir / "ca.pem").read_bytes())
    (conf / "monitor.yaml").write_text(
        f"alerts_http:\n  url: {stack.url}{INGEST}\n  spool: alerts.spool\n"
        "  cert: monitor.crt\n  key: monitor.key\n  ca: ca.pem\n")
    code = main(["monitor", "run", "--pcap", str(_pcap(tmp_path)), "--no-live-table",
                 "--config", str(conf / "monitor.yaml")])
    assert code == 0, capsys.readouterr().err
    assert _mirai_alerts(stack.store)
    assert not (conf / "alerts.spool").exists() or not (conf / "alerts.spool").read_text()


@pytest.mark.parametrize(("args", "config", "message"), [
    (["--alerts-cert", "c.pem", "--alerts-key", "k.pem"], None,
     "need --alerts-url"),
    (["--alerts-url", "http://127.0.0.1:1/a", "--alerts-token-file", "t"], None,
     "need an https:// --alerts-url"),
    (["--alerts-url", "https://127.0.0.1:1/a", "--alerts-key", "k.pem"], None,
     "needs both --alerts-cert and --alerts-key"),
    ([], "alerts_http:\n  url: https://127.0.0.1:1/a\n  cert: c.pem\n",
     "alerts_http: Value error, cert and key go together"),
    ([], "alerts_http:\n  url: http://127.0.0.1:1/a\n  ca: ca.pem\n",
     "alerts_http: Value error, cert, ca and token_file need an https:// url"),
    ([], "alerts_http:\n  url: ftp://x/\n", "alerts_http.url: Value error, must be an http"),
    ([], "alerts_http:\n  certificate: c.pem\n", "alerts_http.certificate: unknown key"),
])
def test_bad_alert_credentials_are_one_line_errors(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
        config: str | None, message: str) -> None:
    extra = list(args)
    if config is not None:
        (tmp_path / "m.yaml").write_text(config)
        extra += ["--config", str(tmp_path / "m.yaml")]
    code = main(["monitor", "run", "--pcap", str(_pcap(tmp_path)), "--no-live-table", *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
