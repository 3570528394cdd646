"""Prometheus metrics of the gateway, on a registry of their own (never the global one).

Label values are bounded: zones come from the configuration, reasons are the policy's
stable kebab-case codes, statuses are HTTP codes.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_LATENCY = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_FAST = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 1.0)


class GatewayMetrics:
    """Every metric the data plane exports."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("zonegate_requests", "Requests answered, by zone and status.",
                                ["zone", "status"], registry=r)
        self.decisions = Counter("zonegate_decisions", "Policy decisions by result and reason.",
                                 ["result", "reason"], registry=r)
        self.request_seconds = Histogram("zonegate_request_duration_seconds",
                                         "Time from request to last byte, by zone.", ["zone"],
                                         buckets=_LATENCY, registry=r)
        self.policy_seconds = Histogram("zonegate_policy_duration_seconds",
                                        "Policy evaluation time.", buckets=_FAST, registry=r)
        self.upstream_seconds = Histogram("zonegate_upstream_duration_seconds",
                                          "Time to upstream response headers, by zone.",
                                          ["zone"], buckets=_LATENCY, registry=r)
        self.upstream_errors = Counter("zonegate_upstream_errors",
                                       "Upstream failures by zone and kind.",
                                       ["zone", "kind"], registry=r)
        self.cache = Counter("zonegate_cache_requests", "Cache lookups by cache and result.",
                             ["cache", "result"], registry=r)
        self.dlp = Counter("zonegate_dlp_responses", "Response handling by zone and action.",
                           ["zone", "action"], registry=r)
        self.rate_limited = Counter("zonegate_rate_limited", "Requests refused by rate limit.",
                                    registry=r)
        self.audit_records = Counter("zonegate_audit_records", "Audit records made durable.",
                                     registry=r)
        self.audit_errors = Counter("zonegate_audit_errors", "Audit appends that failed.",
                                    registry=r)
        self.audit_recoveries = Counter("zonegate_audit_recoveries",
                                        "Restarts that found an unclean audit log.",
                                        registry=r)
        # sink: file | store (gateway/audit/checkpointer.py); the gateway keeps serving
        self.audit_checkpoint_errors = Counter(
            "zonegate_audit_checkpoint_errors",
            "Audit checkpoints a sink failed to write, by sink.", ["sink"], registry=r)
        self.policy_ready = Gauge("zonegate_policy_ready", "1 when a policy is active.",
                                  registry=r)
        self.crl_reloads = Counter("zonegate_crl_reloads",
                                   "CRLs re-read (handshake, verifier) or fetched (fetch) "
                                   "while running, by result.",
                                   ["check", "result"], registry=r)
        self.crl_last_reload = Gauge("zonegate_crl_last_reload_timestamp_seconds",
                                     "When a changed CRL was last loaded.", registry=r)
        self.tls_cert_reloads = Counter(
            "zonegate_tls_certificate_reloads",
            "Renewed server certificates put in force while running, by result.",
            ["result"], registry=r)
        self.tls_cert_expiry = Gauge(
            "zonegate_tls_certificate_expiry_timestamp_seconds",
            "The notAfter of the server certificate in force.", registry=r)
        self.crl_next_update = Gauge(
            "zonegate_crl_next_update_timestamp_seconds",
            "The nextUpdate of the CRL in force: past it, client certificates are refused.",
            registry=r)
        self.internal_errors = Counter("zonegate_internal_errors",
                                       "Requests answered 500 by the catch-all.", registry=r)
        # reason: queue-full | store-unavailable | invalid | closed (gateway/ingress/
        # decision_index.py); a decision the index never got is counted here, not lost
        self.decision_index_written = Counter(
            "zonegate_decision_index_written", "Decisions written to the store's index.",
            registry=r)
        self.decision_index_dropped = Counter(
            "zonegate_decision_index_dropped",
            "Decisions the store's index never got, by reason.", ["reason"], registry=r)

    def render(self) -> bytes:
        """The exposition text."""
        return generate_latest(self.registry)
