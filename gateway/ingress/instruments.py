"""Prometheus children looked up once, not on every request.

`Counter.labels(...)` validates the values and takes the metric's lock on every call
(measured about 3-4 µs against 0.5 µs for the bound child's `inc`); the data plane touches
six labelled metrics per request. Label values are bounded (zones from the configuration,
HTTP statuses, the policy's reason codes), so the memo holds no more children than the
metric itself does.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from prometheus_client.metrics import MetricWrapperBase

M = TypeVar("M", bound=MetricWrapperBase)


class BoundLabels(Generic[M]):
    """`metric.labels(*values)`, remembered per tuple of values."""

    __slots__ = ("_children", "_metric")

    def __init__(self, metric: M) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], M] = {}

    def __call__(self, *values: str) -> M:
        """The child for these label values (created on first use)."""
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child
