"""Prometheus metrics of the policy decision point, one set per registry.

    zonegate_pdp_policy_reloads_total{result="success|failure"}
    zonegate_pdp_policy_last_reload_success_timestamp_seconds
    zonegate_pdp_policy_info{revision}                     1 for the revision in force
    zonegate_pdp_cache_lookups_total{result="hit|miss"}
    zonegate_pdp_cache_hit_ratio                           hits / lookups since start
    zonegate_pdp_cache_entries
    zonegate_pdp_decision_log_events_total{result="written|dropped"}
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge


@dataclass(frozen=True, slots=True)
class PDPMetrics:
    """The metric objects; get them through `metrics_for`."""

    reloads: Counter
    last_reload_success: Gauge
    policy_info: Gauge
    cache_lookups: Counter
    cache_hit_ratio: Gauge
    cache_entries: Gauge
    log_events: Counter


_lock = threading.Lock()
_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, PDPMetrics] = (
    weakref.WeakKeyDictionary()
)


def metrics_for(registry: CollectorRegistry | None = None) -> PDPMetrics:
    """The metrics registered in `registry` (the default registry when None), made once."""
    registry = REGISTRY if registry is None else registry
    with _lock:
        found = _by_registry.get(registry)
        if found is not None:
            return found
        made = PDPMetrics(
            reloads=Counter("zonegate_pdp_policy_reloads", "Policy reload attempts.",
                            ["result"], registry=registry),
            last_reload_success=Gauge(
                "zonegate_pdp_policy_last_reload_success_timestamp_seconds",
                "Unix time of the last successful policy activation.", registry=registry),
            policy_info=Gauge("zonegate_pdp_policy_info", "Revision of the policy in force.",
                              ["revision"], registry=registry),
            cache_lookups=Counter("zonegate_pdp_cache_lookups", "Decision cache lookups.",
                                  ["result"], registry=registry),
            cache_hit_ratio=Gauge("zonegate_pdp_cache_hit_ratio",
                                  "Decision cache hits per lookup since start.",
                                  registry=registry),
            cache_entries=Gauge("zonegate_pdp_cache_entries", "Decisions held in the cache.",
                                registry=registry),
            log_events=Counter("zonegate_pdp_decision_log_events",
                               "Decision log events written or dropped.", ["result"],
                               registry=registry),
        )
        _by_registry[registry] = made
        return made
