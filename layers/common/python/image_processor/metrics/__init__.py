"""What the service counts and times, named once for both runtimes.

The library records through `ServiceMetrics`; a `MetricSink` writes the records out: CloudWatch
embedded-metric-format lines on Lambda (`metrics.emf`), a Prometheus registry served at GET /metrics
under uvicorn and in the container (`metrics.prometheus`). `assembly` picks the sink from settings.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

CropKind = Literal["manual", "smart"]
# A crop is counted once, when it ends: a manual crop when its request is answered; a smart crop when its
# job reaches a final state, or when its request is refused or fails before a job exists.
CropOutcome = Literal["succeeded", "rejected", "failed"]
JobOutcome = Literal["succeeded", "failed"]
AiFailure = Literal["transient", "permanent"]


@dataclass(frozen=True)
class Metric:
    """One metric: its CloudWatch name, unit and dimension names (Prometheus labels)."""

    name: str
    unit: Literal["Count", "Seconds"]
    labels: tuple[str, ...]
    description: str


CROPS = Metric("Crops", "Count", ("kind", "outcome"), "Crops that ended, by kind (manual, smart) and outcome.")
JOB_DURATION = Metric(
    "JobDuration", "Seconds", ("outcome",), "Seconds from a smart-crop job's acceptance to its final state."
)
AI_CALL_DURATION = Metric("AiCallDuration", "Seconds", ("outcome",), "Seconds one call to the AI object locator took.")
AI_CALL_FAILURES = Metric("AiCallFailures", "Count", ("failure",), "AI calls that failed (transient or permanent).")
RATE_LIMIT_REFUSALS = Metric("RateLimitRefusals", "Count", ("kind",), "Crop requests refused by a client's rate limit.")
COLD_STARTS = Metric("ColdStart", "Count", (), "Starts of a fresh process (uvicorn) or execution environment (Lambda).")
RENDITIONS = Metric(
    "RenditionRequests", "Count", ("result",), "Rendition requests served from storage (hit) or made (miss)."
)

ALL_METRICS = (CROPS, JOB_DURATION, AI_CALL_DURATION, AI_CALL_FAILURES, RATE_LIMIT_REFUSALS, COLD_STARTS, RENDITIONS)


class MetricSink(Protocol):
    def record(self, metric: Metric, value: float, labels: Mapping[str, str]) -> None: ...


class DiscardingSink:
    """Records nothing (a library user that wants no metrics)."""

    def record(self, metric: Metric, value: float, labels: Mapping[str, str]) -> None:
        return None


class ServiceMetrics:
    """The events the service reports, each as one metric with its labels."""

    def __init__(self, sink: MetricSink) -> None:
        self._sink = sink

    def crop_ended(self, kind: CropKind, outcome: CropOutcome) -> None:
        self._sink.record(CROPS, 1, {"kind": kind, "outcome": outcome})

    def job_finished(self, outcome: JobOutcome, seconds: float) -> None:
        """A smart-crop job reached a final state `seconds` after it was accepted (also counted as a crop)."""
        self._sink.record(JOB_DURATION, max(seconds, 0.0), {"outcome": outcome})
        self.crop_ended("smart", outcome)

    def ai_call(self, seconds: float, *, failure: AiFailure | None = None) -> None:
        self._sink.record(AI_CALL_DURATION, seconds, {"outcome": "failed" if failure else "succeeded"})
        if failure is not None:
            self._sink.record(AI_CALL_FAILURES, 1, {"failure": failure})

    def rate_limit_refused(self, kind: CropKind) -> None:
        self._sink.record(RATE_LIMIT_REFUSALS, 1, {"kind": kind})

    def cold_start(self) -> None:
        self._sink.record(COLD_STARTS, 1, {})

    def rendition_served(self, hit: bool) -> None:
        self._sink.record(RENDITIONS, 1, {"result": "hit" if hit else "miss"})


def discarding() -> ServiceMetrics:
    return ServiceMetrics(DiscardingSink())
