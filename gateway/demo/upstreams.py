"""The sample zone upstreams: one small aiohttp app per zone, serving its shipped records.

Each answers `GET /zones/<zone>/records` (all) and `GET /zones/<zone>/records/<id>` (one),
the exact path the gateway forwards, and `GET /healthz`. They trust the gateway to have
decided; a production upstream would also verify the `X-Zonegate-Assertion` it receives.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from gateway.demo.errors import PortInUse, StartupFailed
from gateway.demo.records import ZoneRecords

_RECORDS: web.AppKey[ZoneRecords] = web.AppKey("records", ZoneRecords)


async def _list(request: web.Request) -> web.Response:
    records = request.app[_RECORDS]
    return web.json_response({"zone": records.zone, "records": list(records.records)},
                             dumps=_dumps)


async def _one(request: web.Request) -> web.Response:
    records = request.app[_RECORDS]
    record = records.get(request.match_info["record_id"])
    if record is None:
        return web.json_response({"error": "no such record"}, status=404)
    return web.json_response(record, dumps=_dumps)


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False)


def zone_app(records: ZoneRecords) -> web.Application:
    """The aiohttp application serving one zone's records."""
    app = web.Application()
    app[_RECORDS] = records
    base = f"/zones/{records.zone}/records"
    app.router.add_get(base, _list)
    app.router.add_get(base + "/{record_id}", _one)
    app.router.add_get("/healthz", _health)
    return app


@dataclass(frozen=True, slots=True)
class RunningUpstream:
    """A started upstream: its zone, URL and runner (for cleanup)."""

    zone: str
    url: str
    runner: web.AppRunner


async def start_upstream(records: ZoneRecords, port: int) -> RunningUpstream:
    """Serve `records` on 127.0.0.1:port (0 = any free port)."""
    runner = web.AppRunner(zone_app(records), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
    except OSError as exc:
        await runner.cleanup()
        if port:
            raise PortInUse(f"127.0.0.1:{port} (the {records.zone} upstream): {exc.strerror}; "
                            "stop what uses it or run with --ephemeral-ports") from None
        raise StartupFailed(f"the {records.zone} upstream cannot listen: {exc.strerror}"
                            ) from None
    bound = runner.addresses[0][1]
    return RunningUpstream(records.zone, f"http://127.0.0.1:{bound}", runner)


async def stop_upstreams(upstreams: Mapping[str, RunningUpstream]) -> None:
    """Stop every upstream (idempotent)."""
    for upstream in upstreams.values():
        await upstream.runner.cleanup()
