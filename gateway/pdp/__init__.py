"""Policy decision point: the PolicyEngine port, its adapters, and the parts around them.

Building one (what the ingress gateway does)::

    from gateway.pdp import build_pdp

    pdp = build_pdp(config.policy, decision_log=Path("decisions.jsonl"))
    await pdp.start()                       # starts the hot reloader (embedded engine)
    decision = await pdp.engine.evaluate(input_doc)   # Decision, or raises PDPUnavailable
    ...
    await pdp.close()

Components, each usable alone:

* `build_engine(policy_config)` -> the bare adapter: `EmbeddedEngine` (regorus, in
  process, default) or `OPAEngine` (a remote OPA over the Data API). Both pass one
  contract-test suite. Undefined, error, timeout or unreachable -> `PDPUnavailable` (503).
* `PolicyReloader(embedded, path)` — polls the bundle, compiles and tests a change, and
  swaps it in only if everything passes; a broken policy never replaces the one in force.
* `CachedEngine(engine, DecisionCache(ttl_seconds=2))` — short, bounded decision cache
  keyed on the input without ``request.id``/``request.time``; never caches errors;
  emptied when the revision changes.
* `LoggedEngine(engine, DecisionLog(path))` — OPA-shaped decision log events (masked,
  JSONL, fsync, rotation, drop counter); sets `Decision.decision_id`.

`build_pdp` stacks them as ``LoggedEngine(CachedEngine(adapter))``: every request gets its
own decision id and log event, cached or not. Metrics: see `gateway.pdp.metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry

from gateway.config import PolicyConfig
from gateway.pdp.cache import CachedEngine, DecisionCache
from gateway.pdp.decision_log import DEFAULT_MASK, DecisionLog, LoggedEngine
from gateway.pdp.embedded import CompiledPolicy, EmbeddedEngine
from gateway.pdp.opa import OPAEngine
from gateway.pdp.port import (
    BundleError,
    BundleTooLarge,
    Decision,
    Obligations,
    PDPError,
    PDPUnavailable,
    PolicyEngine,
    PolicyLoadError,
)
from gateway.pdp.reload import PolicyReloader, prepare_policy

__all__ = [
    "DEFAULT_MASK",
    "PDP",
    "BundleError",
    "BundleTooLarge",
    "CachedEngine",
    "CompiledPolicy",
    "Decision",
    "DecisionCache",
    "DecisionLog",
    "EmbeddedEngine",
    "LoggedEngine",
    "OPAEngine",
    "Obligations",
    "PDPError",
    "PDPUnavailable",
    "PolicyEngine",
    "PolicyLoadError",
    "PolicyReloader",
    "build_engine",
    "build_pdp",
]


def build_engine(
    config: PolicyConfig,
    *,
    verification_key: bytes | None = None,
    opa_timeout_seconds: float = 0.5,
    require_tests: bool = True,
) -> PolicyEngine:
    """The bare adapter `config.engine` names; the embedded one is loaded and tested now."""
    if config.engine == "opa":
        return OPAEngine(config.opa_url, config.decision, timeout_seconds=opa_timeout_seconds)
    policy = prepare_policy(config.bundle, config.decision, verification_key=verification_key,
                            require_tests=require_tests)
    return EmbeddedEngine(policy)


@dataclass(slots=True)
class PDP:
    """The assembled decision point: `engine` is what the gateway calls."""

    engine: PolicyEngine
    adapter: PolicyEngine
    cache: DecisionCache | None
    log: DecisionLog | None
    reloader: PolicyReloader | None

    async def start(self) -> None:
        """Start background work (the hot reloader, for the embedded engine)."""
        if self.reloader is not None:
            self.reloader.start()

    async def close(self) -> None:
        """Stop the reloader, close the adapter, flush the decision log."""
        if self.reloader is not None:
            await self.reloader.stop()
        await self.engine.close()


def build_pdp(
    config: PolicyConfig,
    *,
    verification_key: bytes | None = None,
    opa_timeout_seconds: float = 0.5,
    cache_ttl_seconds: float | None = 2.0,
    cache_max_entries: int = 10_000,
    decision_log: Path | None = None,
    log_mask: tuple[str, ...] = DEFAULT_MASK,
    reload_interval_seconds: float | None = 1.0,
    registry: CollectorRegistry | None = None,
) -> PDP:
    """Adapter + cache + decision log (+ hot reloader for the embedded engine)."""
    adapter = build_engine(config, verification_key=verification_key,
                           opa_timeout_seconds=opa_timeout_seconds)
    engine: PolicyEngine = adapter
    cache = None
    if cache_ttl_seconds is not None:
        cache = DecisionCache(ttl_seconds=cache_ttl_seconds, max_entries=cache_max_entries,
                              registry=registry)
        engine = CachedEngine(engine, cache)
    log = None
    if decision_log is not None:
        log = DecisionLog(decision_log, mask=log_mask, registry=registry)
        engine = LoggedEngine(engine, log, config.decision)
    reloader = None
    if isinstance(adapter, EmbeddedEngine) and reload_interval_seconds is not None:
        reloader = PolicyReloader(adapter, config.bundle, interval_seconds=reload_interval_seconds,
                                  verification_key=verification_key, registry=registry)
    return PDP(engine, adapter, cache, log, reloader)
