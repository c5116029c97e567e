"""The service's metrics in a Prometheus registry of its own, for GET /metrics."""

import re
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from . import AI_CALL_DURATION, ALL_METRICS, JOB_DURATION, Metric

PREFIX = "image_processor"
# Upper bounds, in seconds, that fit each timing: an AI call takes up to its timeout, a job up to its deadline.
_BUCKETS: dict[str, tuple[float, ...]] = {
    AI_CALL_DURATION.name: (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30),
    JOB_DURATION.name: (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 900, 1800),
}
CONTENT_TYPE = CONTENT_TYPE_LATEST


def prometheus_name(metric: Metric) -> str:
    """The exposed name: `AiCallDuration` (Seconds) -> `image_processor_ai_call_duration_seconds` (a histogram),
    `Crops` (Count) -> `image_processor_crops_total` (a counter)."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", metric.name).lower()
    suffix = "_seconds" if metric.unit == "Seconds" else "_total"
    return f"{PREFIX}_{snake}{suffix}"


class PrometheusSink:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._collectors: dict[str, Counter | Histogram] = {}
        for metric in ALL_METRICS:
            name = prometheus_name(metric)
            if metric.unit == "Seconds":
                buckets = _BUCKETS.get(metric.name, Histogram.DEFAULT_BUCKETS)
                self._collectors[metric.name] = Histogram(
                    name, metric.description, metric.labels, registry=self.registry, buckets=buckets
                )
            else:
                self._collectors[metric.name] = Counter(name, metric.description, metric.labels, registry=self.registry)

    def record(self, metric: Metric, value: float, labels: Mapping[str, str]) -> None:
        collector = self._collectors[metric.name]
        child = collector.labels(**labels) if metric.labels else collector
        if isinstance(child, Histogram):
            child.observe(value)
        else:
            child.inc(value)

    def exposition(self) -> bytes:
        """The registry in Prometheus's text format (CONTENT_TYPE)."""
        return generate_latest(self.registry)
