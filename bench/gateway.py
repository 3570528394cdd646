"""Ingress data plane throughput and added latency, against nginx on the same upstream.

Rows (wrk, one thread, same upstream, one worker each unless said):
- upstream direct: the upstream (nginx returning a ~1 KB JSON body) without any proxy;
- nginx proxy_pass: nginx with upstream keep-alive, no checks;
- aiohttp proxy: a bare aiohttp reverse proxy (no checks): the ceiling for our stack;
- httpx proxy: uvicorn serving a bare ASGI app that forwards with one httpx.AsyncClient
  (no checks), the stack DESIGN.md measured and rejected for the upstream hop;
- mitmproxy reverse: `mitmdump --mode reverse:UPSTREAM` (no checks, no addons), the engine
  of the egress PEP;
- zonegate, all checks: `zonegate serve` with JWT verification (dev IdP's ES256 token;
  wrk repeats one token, so the verified-identity cache answers after the first), the
  embedded Rego engine running policies/ (with its decision cache),
  zone routing and path normalisation, quarantine lookup, the hash-chained audit log
  (background fsync, the default `--audit-sync`), response DLP (classify/ masks the
  resident ID and phone of the ~1 KB JSON: the open zone caps responses at L1) and the
  signed X-Zonegate-Assertion;
  "repeated body" lets the DLP verdict cache hit, "unique bodies" (nginx puts
  $request_id in each body) never does: that is the worst case;
- audit without fsync: the same with `--audit-sync off` (the cost of durability);
- 2 workers: `--workers 2` (SO_REUSEPORT, one audit chain each);
- paced rows: wrk with a Lua delay so the offered rate is about half the gateway's
  maximum; the added latency is the gateway's percentile minus the direct upstream's.
  With a fixed delay the 8 connections stay in step, so each burst of 8 queues behind
  itself; the "random arrivals" rows draw each delay from an exponential distribution
  with the same mean, which is how independent clients arrive.

Environment: ZONEGATE_BENCH_SECONDS (default 10) per run; ZONEGATE_BENCH_PROFILE=1 also
runs the gateway under cProfile and prints the request path's top functions by cumulative
time. The gateway runs on uvloop when uvloop is installed (a note says which loop ran).
Run: `.venv/bin/python -m bench gateway` (about 4 minutes on the 2-core box).
"""

from __future__ import annotations

import asyncio
import json
import os
import pstats
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench._report import report

ROOT = Path(__file__).resolve().parents[1]
SECONDS = int(os.environ.get("ZONEGATE_BENCH_SECONDS", "10"))
CONNECTIONS = 32
RECORD = {"name": "张三", "resident_id": "11010519491231002X", "phone": "13800138000",
          "district": "Haidian", "status": "active", "visits": 3}
BODY = json.dumps({"records": [dict(RECORD, id=i) for i in range(7)]}, ensure_ascii=False)
# the same shape, made unique per request by nginx's $request_id (no DLP cache hit)
UNIQUE = BODY.replace('"id": 0', '"id": "$request_id"')
HTTPX_PROXY = """
import sys, httpx, uvicorn
UP = sys.argv[2]
client = httpx.AsyncClient(base_url=UP, limits=httpx.Limits(max_keepalive_connections=64))
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    target = scope["raw_path"].decode() + ("?" + scope["query_string"].decode()
                                           if scope["query_string"] else "")
    up = await client.request(scope["method"], target, content=body)
    await send({"type": "http.response.start", "status": up.status_code,
                "headers": [(b"content-type", up.headers.get("content-type", "").encode())]})
    await send({"type": "http.response.body", "body": up.content})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False)
"""
PROXY = """
import sys, aiohttp, asyncio
from aiohttp import web
UP = sys.argv[2]
async def main():
    session = aiohttp.ClientSession(auto_decompress=False)
    async def handle(request):
        async with session.request(request.method, UP + request.raw_path,
                                   data=await request.read()) as up:
            body = await up.read()
            return web.Response(status=up.status, body=body,
                                content_type=up.content_type)
    runner = web.ServerRunner(web.Server(handle), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", int(sys.argv[1])).start()
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _nginx_conf(tmp: Path, name: str, server: str) -> Path:
    temp = "\n".join(f"  {kind}_temp_path {tmp}/{name}-{kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = tmp / f"{name}.conf"
    conf.write_text(f"""daemon off;
worker_processes 1;
user root root;
pid {tmp}/{name}.pid;
error_log {tmp}/{name}.err warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
{temp}
{server}
}}
""", encoding="utf-8")
    return conf


@contextmanager
def _process(args: list[str], ready: str | None = None, port: int | None = None,
             log: Path | None = None, count: int = 1) -> Iterator[subprocess.Popen[str]]:
    """Start a process; wait for `ready` on stdout, `count` times in `log`, or a port."""
    err = log.open("w") if log is not None else subprocess.DEVNULL
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        if ready is not None and log is None:
            assert proc.stdout is not None
            for line in proc.stdout:
                if ready in line:
                    break
            else:
                raise RuntimeError(f"{args[0]} exited: {proc.wait()}")
        if ready is not None and log is not None:
            _wait_log(proc, log, ready, count)
        if port is not None:
            _wait_port(port)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log is not None:
            err.close()  # type: ignore[union-attr]


def _wait_log(proc: subprocess.Popen[str], log: Path, ready: str, count: int) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if log.read_text(encoding="utf-8", errors="replace").count(ready) >= count:
            return
        if proc.poll() is not None:
            raise RuntimeError(f"exited {proc.returncode}: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    raise RuntimeError(f"not ready after 180 s: {log.read_text()[-2000:]}")


def _wait_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(text)
    return float(match[1]) * _UNITS[match[2]]


def wrk(url: str, *, token: str | None = None, connections: int = CONNECTIONS,
        seconds: int = SECONDS, delay_ms: int | None = None, random_delay: bool = False,
        tmp: Path) -> dict[str, Any]:
    """Run wrk; returns req/s and latency percentiles (ms); refuses non-2xx answers.

    `delay_ms` is each connection's think time between a response and its next request:
    fixed, or with `random_delay` drawn from an exponential distribution of that mean, so
    that arrivals are random (close to Poisson) instead of the connections' requests
    arriving together in step.
    """
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if token:
        args += ["-H", f"Authorization: Bearer {token}"]
    if delay_ms is not None:
        kind = "exp" if random_delay else "fixed"
        script = tmp / f"delay-{kind}{delay_ms}.lua"
        body = (f"  return math.floor(-math.log(1 - math.random()) * {delay_ms})"
                if random_delay else f"  return {delay_ms}")
        seed = "math.randomseed(os.time())\n" if random_delay else ""
        script.write_text(f"{seed}function delay()\n{body}\nend\n")
        args += ["-s", str(script)]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if bad:
        raise RuntimeError(f"{url}: {bad[1]} non-2xx answers; the benchmark is void\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    pct = {p: _ms(v) for p, v in re.findall(r"^\s+(50|90|99)%\s+(\S+)", out, re.M)}
    return {"req_s": rate, "p50_ms": pct["50"], "p90_ms": pct["90"], "p99_ms": pct["99"],
            "socket_errors": errors[1].strip() if errors else ""}


class IdP:
    """The dev IdP on a background event loop (the gateway fetches its JWKS)."""

    def __init__(self) -> None:
        from gateway.idp import DevIdP, demo_config

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.idp = DevIdP(demo_config())
        asyncio.run_coroutine_threadsafe(self.idp.listen("127.0.0.1", 0), self.loop).result()

    def token(self) -> str:
        token: str = self.idp.mint(user="doctor", exp=int(time.time()) + 3600)
        return token

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.idp.stop(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()


def _gateway_args(tmp: Path, name: str, idp: IdP, upstream: int, port: int,
                  workers: int = 1, profile: Path | None = None,
                  extra: tuple[str, ...] = ()) -> list[str]:
    config = tmp / f"{name}.yaml"
    config.write_text(f"""trust_domain: city.example
listen: {{ingress: "127.0.0.1:{port}"}}
identity:
  oidc:
    - {{issuer: "{idp.idp.issuer}", audience: zonegate, jwks_uri: "{idp.idp.jwks_uri}"}}
policy: {{engine: embedded, bundle: "{ROOT / 'policies'}"}}
zones:
  - {{name: open, prefix: /zones/open/, upstream: "http://127.0.0.1:{upstream}", level: L1}}
""", encoding="utf-8")
    entry = tmp / "entry.py"
    entry.write_text("from gateway.cli import console_main\nconsole_main()\n")
    head = [sys.executable]
    if profile is not None:
        head += ["-m", "cProfile", "-o", str(profile)]
    return [*head, str(entry), "serve", "--config", str(config), "--role", "ingress",
            "--audit-log", str(tmp / f"{name}-audit.jsonl"), "--workers", str(workers),
            "--log-level", "info", *extra]


def main() -> None:
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        up, ngx, plain, gw, gw2, hx, mitm = (_port() for _ in range(7))
        upstream_conf = _nginx_conf(tmp, "upstream", f"""  server {{
    listen 127.0.0.1:{up};
    keepalive_requests 1000000;
    location / {{ default_type application/json; return 200 '{BODY}'; }}
    location /zones/open/unique {{ default_type application/json;
                                  return 200 '{UNIQUE}'; }}
  }}""")
        proxy_conf = _nginx_conf(tmp, "proxy", f"""
  upstream up {{ server 127.0.0.1:{up}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{ngx};
    keepalive_requests 1000000;
    location / {{ proxy_pass http://up; proxy_http_version 1.1;
                 proxy_set_header Connection ""; }}
  }}""")
        idp = IdP()
        token = idp.token()
        path = "/zones/open/records"
        try:
            with _process(["nginx", "-c", str(upstream_conf)], port=up), \
                 _process(["nginx", "-c", str(proxy_conf)], port=ngx), \
                 _process([sys.executable, "-c", PROXY, str(plain), f"http://127.0.0.1:{up}"],
                          ready="ready"):
                direct = wrk(f"http://127.0.0.1:{up}{path}", tmp=tmp)
                rows.append({"target": "upstream direct", **direct})
                nginx = wrk(f"http://127.0.0.1:{ngx}{path}", tmp=tmp)
                rows.append({"target": "nginx proxy_pass", **nginx})
                rows.append({"target": "aiohttp proxy, no checks",
                             **wrk(f"http://127.0.0.1:{plain}{path}", tmp=tmp)})
                with _process([sys.executable, "-c", HTTPX_PROXY, str(hx),
                               f"http://127.0.0.1:{up}"], port=hx):
                    rows.append({"target": "uvicorn + httpx proxy, no checks",
                                 **wrk(f"http://127.0.0.1:{hx}{path}", tmp=tmp)})
                mitmdump = Path(sys.executable).with_name("mitmdump")
                with _process([str(mitmdump), "-q", "--listen-host", "127.0.0.1", "-p",
                               str(mitm), "--mode", f"reverse:http://127.0.0.1:{up}"],
                              port=mitm):
                    rows.append({"target": "mitmproxy reverse mode, no checks",
                                 **wrk(f"http://127.0.0.1:{mitm}{path}", tmp=tmp)})
                unique = "/zones/open/unique"
                with _process(_gateway_args(tmp, "gw", idp, up, gw), ready='"listening"',
                              log=tmp / "gw.log"):
                    _check_masked(gw, path, token)
                    started = _listening(tmp / "gw.log")
                    notes.append(f"gateway event loop: {started.get('event_loop', '?')}; "
                                 f"classify: {started.get('classify', '?')}")
                    rows.append({"target": "zonegate, all checks, repeated body",
                                 **wrk(f"http://127.0.0.1:{gw}{path}", token=token, tmp=tmp)})
                    full = wrk(f"http://127.0.0.1:{gw}{unique}", token=token, tmp=tmp)
                    rows.append({"target": "zonegate, all checks, unique bodies", **full})
                    half = max(1.0, full["req_s"] / 2)
                    paced_conns = 8
                    delay = max(1, round(paced_conns * 1000 / half))
                    paced_up = wrk(f"http://127.0.0.1:{up}{unique}", tmp=tmp,
                                   connections=paced_conns, delay_ms=delay)
                    paced_gw = wrk(f"http://127.0.0.1:{gw}{unique}", token=token, tmp=tmp,
                                   connections=paced_conns, delay_ms=delay)
                    rows.append({"target": "upstream direct, paced", **paced_up})
                    rows.append({"target": "zonegate, paced at ~half max", **paced_gw})
                    notes.append(
                        f"paced: {paced_conns} connections x {delay} ms think time; "
                        f"added p50 {paced_gw['p50_ms'] - paced_up['p50_ms']:.2f} ms, "
                        f"added p99 {paced_gw['p99_ms'] - paced_up['p99_ms']:.2f} ms "
                        f"at {paced_gw['req_s']:.0f} req/s (target <= 2 ms)")
                    # The same mean rate with random think times: requests no longer
                    # arrive in bursts of `paced_conns`, each waiting for those before it.
                    random_up = wrk(f"http://127.0.0.1:{up}{unique}", tmp=tmp,
                                    connections=paced_conns, delay_ms=delay, random_delay=True)
                    handled = _histograms(gw)
                    random_gw = wrk(f"http://127.0.0.1:{gw}{unique}", token=token, tmp=tmp,
                                    connections=paced_conns, delay_ms=delay, random_delay=True)
                    notes.append(_time_inside(handled, _histograms(gw)))
                    rows.append({"target": "upstream direct, random arrivals", **random_up})
                    rows.append({"target": "zonegate, random arrivals at ~half max",
                                 **random_gw})
                    notes.append(
                        f"random arrivals (exponential think time, mean {delay} ms): added "
                        f"p50 {random_gw['p50_ms'] - random_up['p50_ms']:.2f} ms, added p99 "
                        f"{random_gw['p99_ms'] - random_up['p99_ms']:.2f} ms at "
                        f"{random_gw['req_s']:.0f} req/s (target <= 2 ms)")
                    notes.append(f"zonegate (unique bodies)/nginx throughput: "
                                 f"{full['req_s'] / nginx['req_s']:.3f}x (target >= 0.2x)")
                with _process(_gateway_args(tmp, "nosync", idp, up, gw,
                                            extra=("--audit-sync", "off")),
                              ready='"listening"', log=tmp / "nosync.log"):
                    rows.append({"target": "zonegate, unique bodies, audit without fsync",
                                 **wrk(f"http://127.0.0.1:{gw}{unique}", token=token,
                                       tmp=tmp)})
                    nosync = wrk(f"http://127.0.0.1:{gw}{unique}", token=token, tmp=tmp,
                                 connections=paced_conns, delay_ms=delay)
                    rows.append({"target": "zonegate, audit without fsync, paced", **nosync})
                    notes.append(
                        f"paced without fsync: added p50 "
                        f"{nosync['p50_ms'] - paced_up['p50_ms']:.2f} ms, added p99 "
                        f"{nosync['p99_ms'] - paced_up['p99_ms']:.2f} ms")
                with _process(_gateway_args(tmp, "gw2", idp, up, gw2, workers=2),
                              ready='"listening"', log=tmp / "gw2.log", count=2):
                    rows.append({"target": "zonegate, unique bodies, 2 workers",
                                 **wrk(f"http://127.0.0.1:{gw2}{unique}", token=token,
                                       tmp=tmp)})
                if os.environ.get("ZONEGATE_BENCH_PROFILE") == "1":
                    notes.extend(_profile(tmp, idp, up, token, path))
        finally:
            idp.close()
    notes.append(f"wrk -t1 -c{CONNECTIONS} -d{SECONDS}s; response body {len(BODY.encode())} "
                 f"bytes; {os.cpu_count()} CPUs shared with other work")
    notes.append("wrk sends one token: the gateway verifies it once per 30 s (verified-"
                 "identity cache); the stages table gives the uncached verification cost")
    report("gateway", rows, title="Ingress data plane vs nginx (same upstream)", notes=notes)
    report("gateway_stages", _stages(), title="Per-request cost of each check (in process)",
           notes=["median of 5 rounds; the machine's other load inflates every figure"])


_BUCKET = re.compile(r'^zonegate_(request|upstream)_duration_seconds_bucket'
                     r'\{le="([^"]+)",zone="open"\} ([\d.e+]+)$', re.M)


def _histograms(port: int) -> dict[tuple[str, str], float]:
    """The gateway's own request and upstream-wait histograms (cumulative bucket counts)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {(kind, le): float(count) for kind, le, count in _BUCKET.findall(text)}


def _time_inside(before: dict[tuple[str, str], float],
                 after: dict[tuple[str, str], float]) -> str:
    """What share of one run's requests the gateway itself answered within 1, 2, 5, 10 ms.

    The gap to wrk's percentiles is time outside the handler: waiting for the event loop
    before aiohttp hands the request over, and after the last byte is queued.
    """
    def share(kind: str, le: str) -> str:
        total = after[(kind, "+Inf")] - before.get((kind, "+Inf"), 0.0)
        within = after[(kind, le)] - before.get((kind, le), 0.0)
        return f"{100 * within / total:.1f} %" if total else "-"

    limits = (("0.001", "1"), ("0.002", "2"), ("0.005", "5"), ("0.01", "10"))
    inside = ", ".join(f"<= {ms} ms {share('request', le)}" for le, ms in limits)
    upstream = ", ".join(f"<= {ms} ms {share('upstream', le)}" for le, ms in limits[:3])
    return (f"random arrivals, the gateway's own histograms: handler time {inside}; "
            f"waiting for the upstream's headers (nginx answers in ~0.1 ms) {upstream}")


def _per_op(action: Any, rounds: int = 5, seconds: float = 0.4) -> float:
    """Median microseconds per call of `action()` over a few timed rounds."""
    results = []
    for _ in range(rounds):
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            action()
            count += 1
        results.append((time.perf_counter() - start) / count * 1e6)
    return sorted(results)[len(results) // 2]


def _stages() -> list[dict[str, Any]]:
    """Each check the gateway runs per request, timed alone."""
    from yarl import URL

    from classify import Classifier
    from gateway.audit import AuditLog
    from gateway.config import PolicyConfig, parse_config
    from gateway.identity import Presented, build_authenticator
    from gateway.idp import DevIdP, demo_config
    from gateway.ingress import core
    from gateway.ingress.app import default_inspector
    from gateway.ingress.assertion import AssertionSigner
    from gateway.ingress.dlp import MaskingInspector
    from gateway.ingress.paths import normalise_target
    from gateway.ingress.routing import RouteMatch, ZoneRoute, ZoneTable
    from gateway.pdp import build_engine

    rows: list[dict[str, Any]] = []
    loop = asyncio.new_event_loop()

    def run(coro: Any) -> Any:
        return loop.run_until_complete(coro)

    table = ZoneTable([ZoneRoute("open", "/zones/open/", URL("http://127.0.0.1:1"), "L1")])
    target = "/zones//open/./records/%E5%BC%A0?x=1"
    rows.append({"stage": "path normalise + route",
                 "us_per_op": _per_op(lambda: table.match(normalise_target(target)))})
    idp = DevIdP(demo_config())
    run(idp.listen("127.0.0.1", 0))
    config = parse_config(f"""trust_domain: city.example
identity:
  oidc: [{{issuer: "{idp.issuer}", audience: zonegate, jwks_uri: "{idp.jwks_uri}"}}]
""")
    auth = build_authenticator(config)
    presented = Presented(authorization=f"Bearer {idp.mint(user='doctor')}",
                          peer_ip="127.0.0.1")
    identity = run(auth.authenticate(presented))
    rows.append({"stage": "JWT verify (ES256, JWKS cached)",
                 "us_per_op": _per_op(lambda: run(auth.authenticate(presented)))})
    engine = build_engine(PolicyConfig(engine="embedded", bundle=ROOT / "policies"))
    match = table.match(normalise_target("/zones/open/records"))
    assert match is not None
    facts = core.RequestFacts(request_id="r", method="GET", host="gw",
                              time="2026-11-25T08:00:00Z", source_ip="127.0.0.1",
                              target=normalise_target("/zones/open/records"),
                              route=RouteMatch(match.zone, "/records"))
    device = core.DeviceFacts()
    rows.append({"stage": "policy input",
                 "us_per_op": _per_op(lambda: core.policy_input(facts, identity, device, 30))})
    doc = core.policy_input(facts, identity, device, 30)
    rows.append({"stage": "policy evaluate (embedded regorus, no cache)",
                 "us_per_op": _per_op(lambda: run(engine.evaluate(doc)))})
    signer = AssertionSigner.generate("https://gateway.city.example")
    rows.append({"stage": "X-Zonegate-Assertion (ES256 sign)",
                 "us_per_op": _per_op(lambda: signer.mint(zone="open", subject=identity.subject,
                                                          decision_id="d", now=0))})
    body = BODY.encode()
    plain = MaskingInspector(Classifier.default())
    rows.append({"stage": "DLP classify + mask ~1 KB JSON",
                 "us_per_op": _per_op(lambda: plain.inspect(body, "application/json", "L1"))})
    cached = default_inspector()
    rows.append({"stage": "DLP, verdict cache hit",
                 "us_per_op": _per_op(lambda: cached.inspect(body, "application/json", "L1"))})
    with tempfile.TemporaryDirectory() as tmp:
        event = {"request_id": "r" * 32, "path": "/zones/open/records", "status": 200,
                 "reasons": [], "subject": "doctor", "zone": "open", "dlp": "masked"}
        for sync in ("off", "background", "group", "always"):
            log = AuditLog.open(Path(tmp) / f"{sync}.jsonl", sync=sync)
            rows.append({"stage": f"audit append, one writer waiting, fsync={sync}",
                         "us_per_op": _per_op(lambda log=log: log.append_sync("request", event),
                                              rounds=3)})

            def burst(log: AuditLog = log) -> None:
                futures = [log.submit("request", event) for _ in range(32)]
                for future in futures:
                    future.result()

            rows.append({"stage": f"audit append, 32 at once (per record), fsync={sync}",
                         "us_per_op": _per_op(burst, rounds=3) / 32})
            log.close()
    run(auth.close())
    run(idp.stop())
    loop.close()
    return rows


def _check_masked(port: int, path: str, token: str) -> None:
    sample = subprocess.run(["curl", "-s", "-H", f"Authorization: Bearer {token}",
                             f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True,
                            check=True).stdout
    if "11010519491231002X" in sample or "13800138000" in sample:
        raise RuntimeError(f"DLP did not mask the sample: {sample[:200]}")


def _listening(log: Path) -> dict[str, Any]:
    """The gateway's "listening" log line (event loop, classify build, …); {} without one."""
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if '"listening"' in line:
            try:
                fields: dict[str, Any] = json.loads(line)
            except json.JSONDecodeError:
                break
            return fields
    return {}


_IMPORT_MACHINERY = frozenset({"<module>", "<built-in method builtins.__import__>",
                               "<built-in method builtins.__build_class__>",
                               "<built-in method builtins.exec>"})


def _profile(tmp: Path, idp: IdP, upstream: int, token: str, path: str) -> list[str]:
    port = _port()
    prof = tmp / "gateway.prof"
    with _process(_gateway_args(tmp, "prof", idp, upstream, port, profile=prof),
                  ready='"listening"', log=tmp / "prof.log"):
        wrk(f"http://127.0.0.1:{port}/zones/open/unique", token=token, tmp=tmp, seconds=5)
    return profile_summary(pstats.Stats(str(prof)))


def profile_summary(stats: pstats.Stats, top: int = 15) -> list[str]:
    """The top functions by cumulative time among those the request handler reaches.

    Start-up work (imports, policy compilation) is left out by walking the call graph
    from `IngressGateway.handle`; a function also called at start-up (the Rego engine)
    keeps that share, so its figure is an upper bound.
    """
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    roots = [key for key in table
             if key[0].endswith("gateway/ingress/server.py") and key[2] == "handle"]
    if not roots:
        return ["cProfile: the request handler never ran"]
    stats.calc_callees()
    callees: dict[Any, Any] = stats.all_callees  # type: ignore[attr-defined]
    seen = set(roots)
    todo = list(roots)
    while todo:
        for callee in callees.get(todo.pop(), {}):
            # lazy imports reached once from a handler are start-up work too
            if callee[0].startswith("<frozen") or callee[2] in _IMPORT_MACHINERY:
                continue
            if callee not in seen:
                seen.add(callee)
                todo.append(callee)
    # a function's time counted only through callers on the request path (not start-up)
    cumulative = {key: table[key][3] for key in roots}
    for caller in seen:
        for callee, value in callees.get(caller, {}).items():
            if callee in seen and callee not in roots:
                cumulative[callee] = cumulative.get(callee, 0.0) + value[3]
    total = max(table[key][3] for key in roots) or 1.0
    ranked = sorted(cumulative, key=lambda key: cumulative[key], reverse=True)
    lines = [f"cProfile, request path, top {top} by cumulative time (% of handle()):"]
    for key in ranked[:top]:
        filename, line, func = key
        where = filename.replace(str(ROOT) + "/", "").split("site-packages/")[-1]
        lines.append(f"  {100 * cumulative[key] / total:5.1f}%  {func}  ({where}:{line})")
    return lines


if __name__ == "__main__":
    main()
