"""The smart-crop worker: every job ends succeeded or failed, once, and its staged upload goes away."""

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import pyvips
from PIL import Image

from image_processor.assembly import WorkerRuntime, build_storage, build_worker_runtime
from image_processor.aws import clients as aws
from image_processor.errors import JobInProgress, JobRetryLater, ObjectLocatorError
from image_processor.ids import new_image_id
from image_processor.jobs.locator import ObjectLocator
from image_processor.jobs.records import DynamoDBJobStore, Job
from image_processor.jobs.worker import SmartCropWorker
from image_processor.observability import service_logger
from image_processor.settings import Settings
from image_processor.storage.backend import StorageBackend
from tests.support import images, scenes
from tests.support.services import ManualClock, RecordingLocator


@dataclass(frozen=True)
class Assembled:
    """The production worker runtime, with the store it writes to."""

    runtime: WorkerRuntime
    storage: StorageBackend
    clock: ManualClock

    def process(self, *, job: dict[str, str]) -> dict[str, Any]:
        return self.runtime.process(job=job)

    @property
    def worker(self) -> SmartCropWorker:
        return self.runtime.worker

    @property
    def jobs(self) -> DynamoDBJobStore:
        return self.runtime.jobs


def assemble(settings: Settings, *, locator: ObjectLocator | None = None) -> Assembled:
    service_logger(settings.log_level)
    storage = build_storage(settings)
    clock = ManualClock()
    runtime = build_worker_runtime(settings, aws.client("dynamodb", settings), storage, locator=locator, clock=clock)
    return Assembled(runtime=runtime, storage=storage, clock=clock)


def accepted_job(assembled: Assembled, upload: bytes, *, renditions: tuple[str, ...] = ()) -> Job:
    """What the API leaves behind for the worker: a staged upload and a pending job."""
    job = Job(
        image_id=new_image_id(),
        product_id="ABC-123",
        status="pending",
        created_at=assembled.clock(),
        renditions=renditions,
    )
    assembled.storage.start()
    assembled.storage.staging.stage(job.image_id, upload)
    assembled.jobs.create(job)
    return job


def status_of(assembled: Assembled, job: Job) -> Job:
    stored = assembled.jobs.get(job.image_id)
    assert stored is not None
    return stored


@pytest.fixture(params=["filesystem", "s3"])
def storage_backend(request: pytest.FixtureRequest) -> str:
    """The worker runs on both image stores (S3 on moto over the wire)."""
    return str(request.param)


def test_a_job_crops_to_the_object_and_removes_its_staged_upload(settings: Settings) -> None:
    assembled = assemble(settings)
    scene = scenes.product_on_plain_background()
    job = accepted_job(assembled, scene.jpeg)

    assert assembled.process(job={"image_id": job.image_id})["status"] == "succeeded"

    assert status_of(assembled, job).status == "succeeded"
    assert assembled.storage.staging.read_staged(job.image_id) is None
    stored = assembled.storage.results.fetch(job.result_key)
    assert stored is not None
    assert scenes.object_share(stored.content) > 0.75
    finished = status_of(assembled, job)
    assert finished.object_found is True and finished.crop_box is not None
    left, _, right, _ = scene.box
    assert finished.crop_box.x <= left and finished.crop_box.right >= right


def test_the_same_job_delivered_twice_is_processed_once(settings: Settings) -> None:
    """Audit 15: a redelivered job is processed once."""
    locator = RecordingLocator()
    assembled = assemble(settings, locator=locator)
    job = accepted_job(assembled, scenes.product_on_plain_background().jpeg)

    first = assembled.process(job={"image_id": job.image_id})
    second = assembled.process(job={"image_id": job.image_id})

    assert first == second == {"image_id": job.image_id, "status": "succeeded"}
    assert locator.calls == 1


def test_a_delivery_racing_one_in_progress_is_turned_away(settings: Settings) -> None:
    locator = RecordingLocator(gate=threading.Event())
    assembled = assemble(settings, locator=locator)
    job = accepted_job(assembled, scenes.product_on_plain_background().jpeg)
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(assembled.process, job={"image_id": job.image_id})
        for _ in range(500):
            if locator.calls:
                break
            threading.Event().wait(0.01)
        with pytest.raises(JobInProgress):
            assembled.process(job={"image_id": job.image_id})
        assert locator.gate is not None
        locator.gate.set()
        assert running.result(timeout=10)["status"] == "succeeded"
    assert locator.calls == 1


_AI_TEXT = "AI service returned an unusable box: 1 validation error for CropBox [input_value={'x': -5}]"


def test_a_permanent_ai_failure_fails_the_job_with_a_fixed_reason(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 14: the AI's own text (a pydantic error quoting its answer) reached /jobs; it belongs in the logs."""
    locator = RecordingLocator(failures=[ObjectLocatorError(_AI_TEXT, transient=False)])
    assembled = assemble(settings, locator=locator)
    job = accepted_job(assembled, scenes.product_on_plain_background().jpeg)

    outcome = assembled.process(job={"image_id": job.image_id})

    assert outcome["status"] == "failed"
    failed = status_of(assembled, job)
    assert failed.status == "failed"
    assert failed.error == "the AI service could not process this image"
    assert any(getattr(record, "reason", None) == _AI_TEXT for record in caplog.records)
    assert assembled.storage.staging.read_staged(job.image_id) is None
    assert assembled.storage.results.stat(job.result_key) is None
    assert locator.calls == 1


def test_a_transient_ai_failure_is_retried_and_then_succeeds(settings: Settings) -> None:
    locator = RecordingLocator(failures=[ObjectLocatorError("the model timed out", transient=True)])
    assembled = assemble(settings, locator=locator)
    job = accepted_job(assembled, scenes.product_on_plain_background().jpeg)

    with pytest.raises(JobRetryLater):
        assembled.process(job={"image_id": job.image_id})
    assert status_of(assembled, job).status == "processing"
    assert assembled.storage.staging.read_staged(job.image_id) is not None

    assert assembled.process(job={"image_id": job.image_id})["status"] == "succeeded"
    assert locator.calls == 2
    assert status_of(assembled, job).attempts == 2


def test_transient_failures_give_up_after_the_last_attempt(settings: Settings) -> None:
    """Audit 17: retried a bounded number of times, then failed with the reason."""
    failures = [ObjectLocatorError("the model timed out", transient=True) for _ in range(10)]
    assembled = assemble(settings.model_copy(update={"job_max_attempts": 3}), locator=RecordingLocator(failures))
    job = accepted_job(assembled, scenes.product_on_plain_background().jpeg)

    for _ in range(2):
        with pytest.raises(JobRetryLater):
            assembled.process(job={"image_id": job.image_id})
    assert assembled.process(job={"image_id": job.image_id})["status"] == "failed"

    failed = status_of(assembled, job)
    assert (failed.status, failed.attempts) == ("failed", 3)
    assert failed.error == "the AI service was unavailable in all 3 attempts"
    assert assembled.storage.staging.read_staged(job.image_id) is None


def test_an_undecodable_staged_upload_fails_the_job(settings: Settings) -> None:
    locator = RecordingLocator()
    assembled = assemble(settings, locator=locator)
    job = accepted_job(assembled, images.truncated_jpeg())

    assert assembled.process(job={"image_id": job.image_id})["status"] == "failed"

    failed = status_of(assembled, job)
    assert failed.status == "failed" and failed.error
    assert locator.calls == 0
    assert assembled.storage.staging.read_staged(job.image_id) is None


def test_a_job_whose_upload_vanished_fails(settings: Settings) -> None:
    assembled = assemble(settings)
    job = accepted_job(assembled, scenes.product_on_plain_background().jpeg)
    assembled.storage.staging.discard_staged(job.image_id)

    assert assembled.process(job={"image_id": job.image_id})["status"] == "failed"
    assert status_of(assembled, job).error == "the staged upload is missing"


def test_a_finished_job_delivered_again_only_cleans_up(settings: Settings) -> None:
    locator = RecordingLocator()
    assembled = assemble(settings, locator=locator)
    job = accepted_job(assembled, scenes.product_on_plain_background().jpeg)
    assembled.jobs.fail(job.image_id, "timed out before it finished")

    assert assembled.worker.process(job.image_id)["status"] == "failed"
    assert locator.calls == 0
    assert assembled.storage.staging.read_staged(job.image_id) is None


def test_an_unknown_job_is_skipped(settings: Settings) -> None:
    assembled = assemble(settings)
    assert assembled.worker.process(new_image_id())["status"] == "missing"


def test_a_plain_image_reports_the_centred_fallback(settings: Settings) -> None:
    assembled = assemble(settings)
    job = accepted_job(assembled, images.solid_jpeg(100, 50))

    assert assembled.process(job={"image_id": job.image_id})["status"] == "succeeded"

    finished = status_of(assembled, job)
    assert finished.object_found is False
    assert finished.crop_box is not None and finished.crop_box.model_dump() == {
        "x": 10,
        "y": 5,
        "width": 80,
        "height": 40,
    }


def run_until_the_ai_is_called(assembled: Assembled, locator: RecordingLocator, job: Job) -> "Future[dict[str, Any]]":
    pool = ThreadPoolExecutor(max_workers=1)
    running = pool.submit(assembled.process, job={"image_id": job.image_id})
    pool.shutdown(wait=False)
    for _ in range(500):
        if locator.calls:
            break
        threading.Event().wait(0.01)
    assert locator.calls == 1
    return running


def test_a_late_result_of_a_job_failed_at_its_deadline_is_discarded(settings: Settings) -> None:
    """The deadline (a poll marks the job failed) races a slow AI: the late result is never published."""
    locator = RecordingLocator(gate=threading.Event())
    assembled = assemble(settings, locator=locator)
    job = accepted_job(assembled, scenes.product_on_plain_background().jpeg)
    running = run_until_the_ai_is_called(assembled, locator, job)

    assembled.clock.advance(settings.job_deadline_seconds + 1)
    assert assembled.jobs.fail(job.image_id, "timed out before it finished")  # what a poll does at the deadline
    assert locator.gate is not None
    locator.gate.set()

    assert running.result(timeout=30)["status"] == "failed"
    late = status_of(assembled, job)
    assert (late.status, late.error, late.crop_box) == ("failed", "timed out before it finished", None)
    assert assembled.storage.results.stat(job.result_key) is None
    assert assembled.storage.staging.read_staged(job.image_id) is None


def test_a_result_after_the_deadline_fails_the_job_even_before_anyone_polls(settings: Settings) -> None:
    locator = RecordingLocator(gate=threading.Event())
    assembled = assemble(settings, locator=locator)
    job = accepted_job(assembled, scenes.product_on_plain_background().jpeg)
    running = run_until_the_ai_is_called(assembled, locator, job)

    assembled.clock.advance(settings.job_deadline_seconds + 1)
    assert locator.gate is not None
    locator.gate.set()

    assert running.result(timeout=30)["status"] == "failed"
    assert status_of(assembled, job).error == "timed out before it finished"
    assert assembled.storage.results.stat(job.result_key) is None


def rendition_keys(job: Job, preset: str) -> list[str]:
    return [f"{job.product_id}/{job.image_id}/{preset}.{fmt}" for fmt in ("jpg", "webp", "avif")]


def test_a_job_makes_the_renditions_it_asked_for_before_it_succeeds(settings: Settings) -> None:
    assembled = assemble(settings)
    job = accepted_job(assembled, scenes.product_on_plain_background().jpeg, renditions=("thumbnail",))

    assert assembled.process(job={"image_id": job.image_id})["status"] == "succeeded"

    assert status_of(assembled, job).renditions == ("thumbnail",)
    assert all(assembled.storage.results.stat(key) is not None for key in rendition_keys(job, "thumbnail"))
    assert all(assembled.storage.results.stat(key) is None for key in rendition_keys(job, "listing"))


def test_the_renditions_of_a_job_that_fails_at_its_deadline_go_with_its_image(settings: Settings) -> None:
    locator = RecordingLocator(gate=threading.Event())
    assembled = assemble(settings, locator=locator)
    job = accepted_job(assembled, scenes.product_on_plain_background().jpeg, renditions=("thumbnail", "listing"))
    running = run_until_the_ai_is_called(assembled, locator, job)
    # As if a request had made one while the image was briefly stored.
    assembled.storage.results.create(f"ABC-123/{job.image_id}/zoom.webp", b"webp", content_type="image/webp")

    assembled.clock.advance(settings.job_deadline_seconds + 1)
    assert locator.gate is not None
    locator.gate.set()

    assert running.result(timeout=30)["status"] == "failed"
    assert assembled.storage.results.stat(job.result_key) is None
    keys = [*rendition_keys(job, "thumbnail"), *rendition_keys(job, "listing"), *rendition_keys(job, "zoom")]
    assert [key for key in keys if assembled.storage.results.stat(key) is not None] == []


def test_a_failed_job_is_never_started_again(settings: Settings) -> None:
    locator = RecordingLocator()
    assembled = assemble(settings, locator=locator)
    job = accepted_job(assembled, scenes.product_on_plain_background().jpeg)
    assembled.jobs.fail(job.image_id, "timed out before it finished")

    assert assembled.jobs.start_attempt(job.image_id, owner="someone") is None
    assert assembled.process(job={"image_id": job.image_id})["status"] == "failed"
    assert locator.calls == 0
    assert status_of(assembled, job).status == "failed"


def test_a_gif_with_a_comment_over_the_jpeg_limit_succeeds_at_the_first_attempt(settings: Settings) -> None:
    """Issue 14: Pillow copied a GIF's comment into the JPEG; past 65,533 bytes the encoder raised,
    and the worker retried a job that could never succeed. The comment is now dropped."""
    source = images.encode(Image.new("P", (120, 80), 1), "GIF", comment=b"c" * 70_000)
    assembled = assemble(settings)
    job = accepted_job(assembled, source)

    assert assembled.process(job={"image_id": job.image_id})["status"] == "succeeded"

    finished = status_of(assembled, job)
    assert finished.status == "succeeded" and finished.attempts == 1
    stored = assembled.storage.results.fetch(job.result_key)
    assert stored is not None
    assert b"ccc" not in stored.content


def test_the_worker_refuses_an_image_over_the_memory_budget_without_retrying(settings: Settings) -> None:
    """A progressive 4:4:4 JPEG whose decode alone exceeds IMAGE_MEMORY_BUDGET_BYTES fails at once."""
    noise = pyvips.Image.gaussnoise(2000, 1500)
    progressive = (
        noise.bandjoin([noise, noise])
        .cast("uchar")
        .copy(interpretation="srgb")
        .jpegsave_buffer(interlace=True, subsample_mode="off")
    )
    assembled = assemble(settings.model_copy(update={"image_memory_budget_bytes": 16 * 1024 * 1024}))
    job = accepted_job(assembled, progressive)

    assert assembled.process(job={"image_id": job.image_id})["status"] == "failed"
    assert status_of(assembled, job).attempts == 1
