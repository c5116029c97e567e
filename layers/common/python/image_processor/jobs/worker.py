"""The smart-crop worker: one job from staged upload to stored JPEG. Shared by Lambda and uvicorn."""

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from .. import imaging
from ..errors import (
    CropOutOfBounds,
    ImageTooComplex,
    ImageTooLarge,
    JobInProgress,
    JobRetryLater,
    ObjectLocatorError,
    UnsupportedImage,
)
from ..imaging.checks import Profile, run_checks
from ..metrics import JobOutcome, ServiceMetrics, discarding
from ..models import CropBox
from ..observability import SERVICE_NAME, annotate_trace
from ..renditions import RenditionMaker
from ..storage.interfaces import ResultStore, StagingArea
from . import ownership
from .locator import Location, ObjectLocator
from .records import TIMED_OUT, Job, JobStore

logger = Logger(service=SERVICE_NAME, child=True)

JobProcessor = Callable[..., dict[str, Any]]
_PERMANENT_IMAGE_ERRORS = (UnsupportedImage, ImageTooLarge, ImageTooComplex, CropOutOfBounds)


# Powertools keys its records `<prefix>#<hash of the image id>`: a fixed prefix lets a restart release one.
CLAIM_KEY_PREFIX = "smart-crop-job"


@dataclass(frozen=True)
class SmartCropWorker:
    results: ResultStore
    staging: StagingArea
    jobs: JobStore
    locator: ObjectLocator
    max_pixels: int
    jpeg_quality: int
    max_attempts: int
    budget: imaging.MemoryBudget | None = None
    # The longest side of the image the AI sees; its box is scaled back to the full image.
    preview_size: int = 1024
    owner: str = field(default_factory=lambda: str(ownership.current()))
    # Check profiles a job may name (`profile` in the request): its result is checked once stored.
    profiles: Mapping[str, Profile] = field(default_factory=dict)
    # Makes the renditions a job asked for, before it succeeds; None: such jobs get none made.
    renditions: RenditionMaker | None = None
    metrics: ServiceMetrics = field(default_factory=discarding)
    # The wall clock the API stamps `created_at` with: a job's duration runs from its acceptance.
    clock: Callable[[], float] = time.time

    def process(self, image_id: str) -> dict[str, Any]:
        logger.thread_safe_append_keys(image_id=image_id)
        job = self.jobs.get(image_id)
        if job is None:
            # Left to the staged-upload sweeper: the record may still be on its way from the API.
            logger.warning("smart-crop job not found", extra={"image_id": image_id})
            return {"image_id": image_id, "status": "missing"}
        if job.is_terminal:
            return self._finished(job)
        data = self.staging.read_staged(image_id)
        if data is None:
            return self._fail(job, "the staged upload is missing")
        started = self.jobs.start_attempt(image_id, owner=self.owner)
        if started is None:  # finished (e.g. timed out) since it was read
            return self._finished(self.jobs.get(image_id) or job)
        job = started
        try:
            info, preview = imaging.preview(
                data, max_pixels=self.max_pixels, size=self.preview_size, budget=self.budget
            )
            found = self.locator.locate(preview)
            imaging.check_bounds(imaging.ImageInfo("preview", preview.width, preview.height), found.box)
            location = Location(
                box=scale_box(found.box, preview.size, (info.width, info.height)), object_found=found.object_found
            )
            result = imaging.crop_to_jpeg(
                data, location.box, max_pixels=self.max_pixels, quality=self.jpeg_quality, budget=self.budget
            )
            self.results.save(job.result_key, result)
            if job.renditions and self.renditions is not None:
                self.renditions.make_all(result, job.product_id, job.image_id, job.renditions)
            checks = self._checks(job, result)
        except _PERMANENT_IMAGE_ERRORS as exc:
            if exc.details:
                logger.info("image refused", extra={"image_id": image_id, **exc.details})
            return self._fail(job, exc.message)
        except ObjectLocatorError as exc:
            if exc.transient and job.attempts < self.max_attempts:
                logger.warning("AI call failed, job will be retried", extra={"image_id": image_id, "reason": str(exc)})
                raise JobRetryLater(str(exc)) from exc
            logger.warning("AI call failed for good", extra={"image_id": image_id, "reason": str(exc)})
            # Fixed reasons: the AI's own text (a pydantic error quoting its answer, say) is for the logs only.
            if exc.transient:
                return self._fail(job, f"the AI service was unavailable in all {job.attempts} attempts")
            return self._fail(job, "the AI service could not process this image")
        except Exception as exc:  # any other failure spends one of JOB_MAX_ATTEMPTS, then fails the job
            if job.attempts < self.max_attempts:
                logger.warning(
                    "smart-crop attempt failed, job will be retried",
                    extra={"image_id": image_id, "reason": f"{type(exc).__name__}: {exc}"},
                )
                raise JobRetryLater(str(exc)) from exc
            logger.exception("smart-crop job failed", extra={"image_id": image_id})
            return self._fail(job, "internal error while processing the image")
        return self._publish(job, location, len(result), checks)

    def _checks(self, job: Job, result: bytes) -> dict[str, Any] | None:
        profile = self.profiles.get(job.checks_profile) if job.checks_profile else None
        if profile is None or job.checks_profile is None:
            return None
        return run_checks(result, job.checks_profile, profile).as_dict()

    def _publish(
        self, job: Job, location: Location, size_bytes: int, checks: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The image is already written; the job becomes `succeeded` only if it still can (unfinished,
        within its deadline). If that is refused, the image is removed again, so a failed job never
        leaves a result behind. Writing first means that a crash between the two steps leaves a job
        still `processing` whose redelivery writes the same image again, or whose deadline fails it
        and removes the image; never a `succeeded` job without its image."""
        if self.jobs.succeed(
            job.image_id,
            crop_box=location.box,
            object_found=location.object_found,
            size_bytes=size_bytes,
            checks=checks,
        ):
            self._ended(job, "succeeded")
            self.staging.discard_staged(job.image_id)
            logger.info(
                "smart-crop job succeeded",
                extra={"image_id": job.image_id, "crop_box": location.box.model_dump(), "found": location.object_found},
            )
            return {"image_id": job.image_id, "status": "succeeded"}
        if self.jobs.fail(job.image_id, TIMED_OUT):  # refused for its deadline: record why, unless already failed
            self._ended(job, "failed")
        logger.warning("late smart-crop result discarded", extra={"image_id": job.image_id})
        return self._finished(self.jobs.get(job.image_id) or job)

    def _finished(self, job: Job) -> dict[str, Any]:
        """A job that has already ended: drop its staged upload, and the image of one that did not succeed."""
        if job.status == "failed":
            self._discard_result(job)
        self.staging.discard_staged(job.image_id)
        return {"image_id": job.image_id, "status": job.status}

    def _fail(self, job: Job, reason: str) -> dict[str, Any]:
        if not self.jobs.fail(job.image_id, reason):
            return self._finished(self.jobs.get(job.image_id) or job)
        self._ended(job, "failed")
        self._discard_result(job)
        self.staging.discard_staged(job.image_id)
        logger.warning("smart-crop job failed", extra={"image_id": job.image_id, "reason": reason})
        return {"image_id": job.image_id, "status": "failed", "error": reason}

    def _discard_result(self, job: Job) -> None:
        """The image of a job that did not succeed goes, with every rendition of it: those the job asked for,
        and any a request made while the image was briefly there."""
        self.results.delete(job.result_key)
        if self.renditions is not None:
            self.renditions.discard(job.product_id, job.image_id, self.renditions.catalogue)

    def give_up(self, image_id: str, reason: str) -> None:
        """Fail a job whose deliveries have all failed (the local pool's last resort)."""
        job = self.jobs.get(image_id)
        if job is not None and self.jobs.fail(image_id, reason):
            self._ended(job, "failed")

    def _ended(self, job: Job, outcome: JobOutcome) -> None:
        """Counted by whoever made the final transition, so each job once."""
        self.metrics.job_finished(outcome, self.clock() - job.created_at)


def scale_box(box: CropBox, preview: tuple[int, int], full: tuple[int, int]) -> CropBox:
    """A box found on the preview, as the (larger or equal) region of the full image it covers."""
    scale_x, scale_y = full[0] / preview[0], full[1] / preview[1]
    left = min(full[0] - 1, max(0, math.floor(box.x * scale_x)))
    top = min(full[1] - 1, max(0, math.floor(box.y * scale_y)))
    right = min(full[0], max(left + 1, math.ceil(box.right * scale_x)))
    bottom = min(full[1], max(top + 1, math.ceil(box.bottom * scale_y)))
    return CropBox(x=left, y=top, width=right - left, height=bottom - top)


def idempotent_processor(
    worker: SmartCropWorker, persistence: BasePersistenceLayer, config: IdempotencyConfig
) -> JobProcessor:
    """`process(job={"image_id": ...})`: a redelivered job returns the stored outcome instead of running again.

    JobRetryLater propagates, which deletes the idempotency record so the next delivery runs.
    """

    def process(job: dict[str, Any]) -> dict[str, Any]:
        return worker.process(str(job["image_id"]))

    claimed: JobProcessor = idempotent_function(
        process, data_keyword_argument="job", persistence_store=persistence, config=config, key_prefix=CLAIM_KEY_PREFIX
    )

    def process_once(job: dict[str, Any]) -> dict[str, Any]:
        annotate_trace(image_id=str(job["image_id"]))
        # The idempotency layer's exception stays here: callers (the dispatcher, Lambda) see a domain one.
        try:
            outcome = claimed(job=job)
        except IdempotencyAlreadyInProgressError as exc:
            raise JobInProgress(str(exc)) from exc
        annotate_trace(job_status=str(outcome["status"]))
        return outcome

    return process_once


def claim_releaser(persistence: BasePersistenceLayer, config: IdempotencyConfig) -> Callable[[str], None]:
    """`release(image_id)`: delete the job's idempotency record, so that its next delivery runs at once.

    Only for a claim whose holder is known to be dead (see ownership.is_dead_here)."""
    persistence.configure(config, key_prefix=CLAIM_KEY_PREFIX)

    def release(image_id: str) -> None:
        persistence.delete_record({"image_id": image_id}, JobRetryLater("its worker process is gone"))

    return release
