"""Token buckets for the `rate_limit` obligation, with bounded memory.

A policy says "N requests per minute"; each subject and each device gets a bucket that
refills at N/60 per second and holds at most `burst_seconds` worth of tokens. The table
keeps at most `max_keys` buckets and forgets the least recently used one first, so a
flood of distinct identities cannot grow memory.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float
    rate: int


class RateLimiter:
    """Per-key token buckets; not thread-safe (one per event loop)."""

    def __init__(self, *, max_keys: int = 100_000, burst_seconds: float = 10.0) -> None:
        if max_keys < 1 or burst_seconds <= 0:
            raise ValueError("max_keys must be >= 1 and burst_seconds > 0")
        self._max_keys = max_keys
        self._burst_seconds = burst_seconds
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def _capacity(self, per_minute: int) -> float:
        return max(1.0, per_minute * self._burst_seconds / 60.0)

    def take(self, keys: tuple[str, ...], per_minute: int, now: float) -> int:
        """Take one token from every key's bucket; 0 when allowed, else seconds to wait.

        Nothing is taken unless every bucket has a token. A limit of 0 or less refuses.
        """
        if per_minute <= 0:
            return 60
        rate = per_minute / 60.0
        capacity = self._capacity(per_minute)
        buckets: list[_Bucket] = []
        wait = 0.0
        for key in keys:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = _Bucket(tokens=capacity, stamp=now, rate=per_minute)
                self._buckets[key] = bucket
            else:
                self._buckets.move_to_end(key)
                # refill at the rate the tokens were earned under, then hold at most the
                # new capacity: a changed limit (another zone's policy) never refills it
                earned = max(0.0, now - bucket.stamp) * bucket.rate / 60.0
                bucket.tokens = min(capacity, bucket.tokens + earned)
                bucket.stamp, bucket.rate = now, per_minute
            if bucket.tokens < 1.0:
                wait = max(wait, (1.0 - bucket.tokens) / rate)
            buckets.append(bucket)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        if wait > 0:
            return max(1, math.ceil(wait))
        for bucket in buckets:
            bucket.tokens -= 1.0
        return 0
