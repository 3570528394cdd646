"""A short-lived, bounded decision cache in front of any `PolicyEngine`.

The key is the canonical JSON of the input without ``request.id`` and ``request.time``
(they differ on every request), so a burst of identical requests is decided once. Because
the time is not in the key, a cached decision can outlive a time-dependent condition
(maximum authentication age, opening hours) by at most the TTL: keep the TTL short
(default 2 s). Errors are never cached (`PDPUnavailable` propagates); the cache empties
itself when the revision of the policy in force changes (a reload).
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from gateway.pdp.metrics import metrics_for
from gateway.pdp.port import Decision, JSONObject, PDPError, PolicyEngine

VOLATILE = (("request", "id"), ("request", "time"))
# one encoder for every key: json.dumps with options builds a new encoder on each call
_KEY_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)


def cache_key(input_doc: JSONObject) -> str:
    """Canonical JSON of `input_doc` without the per-request fields."""
    doc = dict(input_doc)
    request = doc.get("request")
    if isinstance(request, dict):
        doc["request"] = {k: v for k, v in request.items() if k != "id" and k != "time"}
    return _KEY_ENCODER.encode(doc)


class DecisionCache:
    """LRU of decisions with a TTL; counts hits and misses."""

    def __init__(
        self,
        *,
        ttl_seconds: float = 2.0,
        max_entries: int = 10_000,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds <= 0 or max_entries <= 0:
            raise PDPError("decision cache: ttl_seconds and max_entries must be positive")
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Decision]] = OrderedDict()
        self._revision: str | None = None
        self._metrics = metrics_for(registry)
        # bound once: a lookup happens on every request
        self._hit_counter = self._metrics.cache_lookups.labels(result="hit")
        self._miss_counter = self._metrics.cache_lookups.labels(result="miss")
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def hit_ratio(self) -> float:
        """Hits per lookup since this cache was made (0.0 before any lookup)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def clear(self) -> None:
        """Forget every decision."""
        self._entries.clear()
        self._metrics.cache_entries.set(0)

    def get(self, key: str, revision: str) -> Decision | None:
        """The cached decision for `key` under `revision`, or None."""
        if revision != self._revision:
            self.clear()
            self._revision = revision
        found = self._entries.get(key)
        now = self._clock()
        if found is not None and found[0] > now:
            self._entries.move_to_end(key)
            self._count(hit=True)
            return found[1]
        if found is not None:
            del self._entries[key]
        self._count(hit=False)
        return None

    def put(self, key: str, revision: str, decision: Decision) -> None:
        """Remember `decision` for the TTL, evicting the least recently used entry."""
        if revision != self._revision:
            self.clear()
            self._revision = revision
        self._entries[key] = (self._clock() + self.ttl, decision)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        self._metrics.cache_entries.set(len(self._entries))

    def _count(self, *, hit: bool) -> None:
        if hit:
            self.hits += 1
        else:
            self.misses += 1
        (self._hit_counter if hit else self._miss_counter).inc()
        self._metrics.cache_hit_ratio.set(self.hit_ratio)


class CachedEngine:
    """`PolicyEngine` wrapper answering repeated inputs from a `DecisionCache`."""

    def __init__(self, inner: PolicyEngine, cache: DecisionCache) -> None:
        self.inner = inner
        self.cache = cache

    @property
    def revision(self) -> str:
        """The inner engine's revision."""
        return self.inner.revision

    async def evaluate(self, input_doc: JSONObject) -> Decision:
        """A cached decision when fresh, else the inner engine's (errors are not cached)."""
        try:
            key = cache_key(input_doc)
        except (TypeError, ValueError):
            return await self.inner.evaluate(input_doc)  # the inner engine reports it
        revision = self.inner.revision
        found = self.cache.get(key, revision)
        if found is not None:
            return found
        decision = await self.inner.evaluate(input_doc)
        # a reload during the await must not file the decision under the new revision
        if self.inner.revision == revision:
            self.cache.put(key, revision, decision)
        return decision

    async def close(self) -> None:
        """Close the inner engine."""
        await self.inner.close()
