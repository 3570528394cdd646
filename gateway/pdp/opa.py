"""The `opa` adapter: a real OPA server over its Data API, through opa-python-client.

``POST {opa_url}/v1/data/zonegate/authz/decision?provenance=true`` with ``{"input": …}``.
The client (`opa_client.AsyncOpaClient`, aiohttp underneath) keeps one session, so
connections are reused. Fail closed: an undefined result (no ``result`` key), an HTTP
error, a malformed body, a refused connection or the timeout all raise `PDPUnavailable`
(the gateway answers 503). Retries are off by default: a retry with back-off on the request
path costs more than it saves, and OPA runs next to the gateway (sidecar).

The revision is the bundle revision OPA reports in ``provenance`` with each answer.
"""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlsplit

import aiohttp
from opa_client.opa_async import AsyncOpaClient

from gateway.pdp.embedded import decision_from_raw, rule_path
from gateway.pdp.port import Decision, JSONObject, JSONValue, PDPError, PDPUnavailable

_PROBE_TTL = 1.0  # seconds a readiness probe's answer is reused


class OPAEngine:
    """`PolicyEngine` asking a remote OPA server."""

    def __init__(
        self,
        opa_url: str,
        decision: str = "zonegate/authz/decision",
        *,
        timeout_seconds: float = 0.5,
        retries: int = 0,
        token: str | None = None,
    ) -> None:
        parts = urlsplit(opa_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PDPError(f"policy.opa_url: must be http(s)://host:port, got {opa_url!r}")
        if parts.path not in ("", "/"):
            raise PDPError(f"policy.opa_url: must not carry a path, got {opa_url!r}")
        if timeout_seconds <= 0:
            raise PDPError("policy: the OPA timeout must be positive")
        rule_path(decision)  # validates the path
        self.url = opa_url
        self.decision = decision.strip("/")
        self.timeout = timeout_seconds
        self._client = AsyncOpaClient(
            host=parts.hostname,
            port=parts.port or (443 if parts.scheme == "https" else 80),
            ssl=parts.scheme == "https",
            retries=retries,
            timeout=timeout_seconds,
            token=token,
        )
        self._session_lock = asyncio.Lock()
        self._started = False
        self._revision = "opa:unknown"
        self._probed: tuple[float, str | None] | None = None  # (monotonic time, problem)

    @property
    def revision(self) -> str:
        """The bundle revision OPA reported with its last answer."""
        return self._revision

    async def _ensure_session(self) -> None:
        if self._started:
            return
        async with self._session_lock:
            if not self._started:
                await self._client.__aenter__()
                self._started = True

    async def raw(self, input_doc: JSONObject) -> JSONObject:
        """The Data API response body; `PDPUnavailable` for anything that is not one."""
        await self._ensure_session()
        try:
            async with asyncio.timeout(self.timeout):
                body = await self._client.query_rule(
                    input_data=input_doc,
                    package_path=self.decision,
                    query_params={"provenance": "true"},
                )
        except TimeoutError:
            raise PDPUnavailable(
                f"OPA at {self.url} did not answer within {self.timeout}s"
            ) from None
        except aiohttp.ClientResponseError as exc:
            raise PDPUnavailable(f"OPA at {self.url} answered HTTP {exc.status}") from None
        except (aiohttp.ClientError, json.JSONDecodeError, ValueError) as exc:
            raise PDPUnavailable(f"OPA at {self.url} is unavailable: {exc}") from None
        except Exception as exc:  # opa_client raises its own bare Exception subclasses
            raise PDPUnavailable(f"OPA at {self.url} failed: {type(exc).__name__}: {exc}") from None
        if not isinstance(body, dict):
            raise PDPUnavailable(f"OPA at {self.url} returned a non-object body")
        return body

    async def evaluate(self, input_doc: JSONObject) -> Decision:
        """Ask OPA for the decision; undefined or any failure is `PDPUnavailable`."""
        body = await self.raw(input_doc)
        self._note_revision(body.get("provenance"))
        result: JSONValue = body.get("result")
        return decision_from_raw(result)

    async def probe(self) -> str | None:
        """Whether OPA answers the decision now: None, or why not (for `/readyz`).

        Asks the decision itself with an empty input, as a request would, so that an OPA
        that is up but has not loaded the bundle (undefined decision) is not ready. The
        answer is kept for a second, so probes cannot load OPA.
        """
        now = time.monotonic()
        if self._probed is not None and now - self._probed[0] < _PROBE_TTL:
            return self._probed[1]
        problem: str | None = None
        try:
            await self.evaluate({})
        except PDPUnavailable as exc:
            problem = str(exc)
        except PDPError as exc:  # a malformed decision: no request could be served
            problem = f"OPA at {self.url} returned a malformed decision: {exc}"
        self._probed = (now, problem)
        return problem

    def _note_revision(self, provenance: JSONValue) -> None:
        if not isinstance(provenance, dict):
            return
        bundles = provenance.get("bundles")
        if isinstance(bundles, dict):
            revisions = sorted(
                f"{name}@{info.get('revision')}" if len(bundles) > 1 else str(info.get("revision"))
                for name, info in bundles.items()
                if isinstance(info, dict)
            )
            if revisions:
                self._revision = ",".join(revisions)

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._started:
            await self._client.close_connection()
            self._started = False
