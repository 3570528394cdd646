"""A stand-in for OPA: a small server speaking OPA's Data API, evaluating with regorus.

There is no OPA binary on the test machine, so the `opa` adapter is tested against this
server on loopback. It implements what the adapter uses: ``POST /v1/data/<path>`` with
``{"input": …}`` answering ``{"result": …}`` (no ``result`` key when undefined), the
``provenance`` query parameter, ``decision_id``, and ``GET /health``. It is NOT OPA; the
test in test_opa_adapter.py that runs against a real OPA (``OPA_URL``) checks the same
contract against the real thing.

`mode` lets tests make it misbehave: ``error`` (HTTP 500), ``garbage`` (a non-JSON
body), ``slow`` (answers after `delay` seconds), ``array`` (a JSON array body).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from gateway.pdp.embedded import CompiledPolicy
from gateway.pdp.port import PDPUnavailable
from gateway.pdp.source import load_source


@dataclass
class OPAStandIn:
    bundle: Path
    mode: str = "ok"
    delay: float = 0.0
    requests: int = 0
    connections: set[int] = field(default_factory=set)
    revision: str = "standin-1"
    runner: web.AppRunner | None = None
    port: int = 0

    def __post_init__(self) -> None:
        self.policy = CompiledPolicy(load_source(self.bundle))
        self.released = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/data/{path:.*}", self.data)
        app.router.add_get("/health", self.health)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.released.set()
        if self.runner is not None:
            await self.runner.cleanup()

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def data(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        transport = request.transport
        if transport is not None:
            self.connections.add(id(transport))
        if self.mode == "error":
            return web.json_response({"code": "internal_error", "message": "boom"}, status=500)
        if self.mode == "garbage":
            return web.Response(text="<html>not json", content_type="application/json")
        if self.mode == "array":
            return web.json_response([1, 2])
        if self.mode == "slow":  # hold the answer back until `delay` passes or stop()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.released.wait(), self.delay)
        body = await request.json()
        rule = "data." + request.match_info["path"].strip("/").replace("/", ".")
        engine = self.policy.engine()
        try:
            engine.set_input_json(json.dumps(body.get("input", {})))
            result = engine.eval_rule(rule)
        except RuntimeError as exc:
            if "not a valid rule path" not in str(exc):
                return web.json_response({"code": "internal_error",
                                          "message": str(exc)[:200]}, status=500)
            result = None  # OPA answers an unknown path as undefined: no "result" key
        except PDPUnavailable as exc:
            return web.json_response({"code": "internal_error", "message": str(exc)}, status=500)
        answer: dict[str, object] = {"decision_id": str(uuid.uuid4())}
        if request.query.get("provenance", "").lower() == "true":
            answer["provenance"] = {"version": "stand-in",
                                    "bundles": {"zonegate": {"revision": self.revision}}}
        if result is not None:
            answer["result"] = result
        return web.json_response(answer)
