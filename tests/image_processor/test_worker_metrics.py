"""What the worker reports: each job once when it ends, with its duration from acceptance, and every
AI call with its latency and, when it failed, how."""

import contextlib

from image_processor.assembly import build_storage, build_worker_runtime
from image_processor.aws import clients as aws
from image_processor.errors import JobRetryLater, ObjectLocatorError
from image_processor.ids import new_image_id
from image_processor.jobs.records import Job
from image_processor.metrics import ServiceMetrics
from image_processor.metrics.prometheus import PrometheusSink
from image_processor.observability import service_logger
from image_processor.settings import Settings
from tests.support import scenes
from tests.support.services import ManualClock, RecordingLocator


class Recorded:
    def __init__(self, sink: PrometheusSink) -> None:
        self._sink = sink

    def value(self, name: str, **labels: str) -> float:
        return self._sink.registry.get_sample_value(name, labels) or 0.0


def run_job(settings: Settings, locator: RecordingLocator, *, deliveries: int = 1, waited: float = 0.0) -> Recorded:
    """Accept one job, let `waited` seconds pass, then deliver it `deliveries` times."""
    service_logger(settings.log_level)
    sink = PrometheusSink()
    clock = ManualClock()
    storage = build_storage(settings)
    runtime = build_worker_runtime(
        settings, aws.client("dynamodb", settings), storage, locator=locator, clock=clock, metrics=ServiceMetrics(sink)
    )
    job = Job(image_id=new_image_id(), product_id="ABC-123", status="pending", created_at=clock())
    storage.start()
    storage.staging.stage(job.image_id, scenes.product_on_plain_background().jpeg)
    runtime.jobs.create(job)
    clock.advance(waited)
    for _ in range(deliveries):
        with contextlib.suppress(JobRetryLater):  # a transient failure, delivered again by the loop
            runtime.process(job={"image_id": job.image_id})
    return Recorded(sink)


def test_a_succeeded_job_is_counted_once_with_its_duration_from_acceptance(settings: Settings) -> None:
    recorded = run_job(settings, RecordingLocator(), deliveries=2, waited=42.0)

    assert recorded.value("image_processor_crops_total", kind="smart", outcome="succeeded") == 1.0
    assert recorded.value("image_processor_job_duration_seconds_count", outcome="succeeded") == 1.0
    assert recorded.value("image_processor_job_duration_seconds_sum", outcome="succeeded") == 42.0
    assert recorded.value("image_processor_ai_call_duration_seconds_count", outcome="succeeded") == 1.0


def test_a_job_the_ai_cannot_process_is_counted_failed(settings: Settings) -> None:
    locator = RecordingLocator(failures=[ObjectLocatorError("refused", transient=False)])

    recorded = run_job(settings, locator, deliveries=2)

    assert recorded.value("image_processor_crops_total", kind="smart", outcome="failed") == 1.0
    assert recorded.value("image_processor_job_duration_seconds_count", outcome="failed") == 1.0
    assert recorded.value("image_processor_ai_call_failures_total", failure="permanent") == 1.0


def test_transient_ai_failures_are_counted_per_call_and_the_job_once(settings: Settings) -> None:
    attempts = 2
    failures = [ObjectLocatorError("the model timed out", transient=True) for _ in range(attempts)]
    limited = settings.model_copy(update={"job_max_attempts": attempts})

    recorded = run_job(limited, RecordingLocator(failures), deliveries=3)

    assert recorded.value("image_processor_ai_call_failures_total", failure="transient") == attempts
    assert recorded.value("image_processor_ai_call_duration_seconds_count", outcome="failed") == attempts
    assert recorded.value("image_processor_crops_total", kind="smart", outcome="failed") == 1.0
