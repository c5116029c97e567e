"""The smart-crop worker: one job from staged upload to stored JPEG. Shared by Lambda and uvicorn."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from . import imaging
from .errors import CropOutOfBounds, ImageTooLarge, JobRetryLater, ObjectLocatorError, UnsupportedImage
from .jobs import Job, JobStore
from .object_locator import ObjectLocator
from .observability import SERVICE_NAME
from .storage import ImageStore

logger = Logger(service=SERVICE_NAME, child=True)

JobProcessor = Callable[..., dict[str, Any]]
_PERMANENT_IMAGE_ERRORS = (UnsupportedImage, ImageTooLarge, CropOutOfBounds)


@dataclass(frozen=True)
class SmartCropWorker:
    store: ImageStore
    jobs: JobStore
    locator: ObjectLocator
    max_pixels: int
    jpeg_quality: int
    max_attempts: int

    def process(self, image_id: str) -> dict[str, Any]:
        logger.thread_safe_append_keys(image_id=image_id)
        job = self.jobs.get(image_id)
        if job is None:
            logger.warning("smart-crop job not found", extra={"image_id": image_id})
            return {"image_id": image_id, "status": "missing"}
        if job.is_terminal:
            self.store.discard_staged(image_id)
            return {"image_id": image_id, "status": job.status}
        data = self.store.read_staged(image_id)
        if data is None:
            return self._fail(job, "the staged upload is missing")
        job = self.jobs.start_attempt(image_id)
        try:
            image = imaging.decode(data, max_pixels=self.max_pixels)
            box = self.locator.locate(image)
            result = imaging.encode_jpeg(imaging.crop(image, box), quality=self.jpeg_quality)
            self.store.save(job.relative_path, result)
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
        except Exception as exc:
            if job.attempts < self.max_attempts:
                logger.exception("smart-crop attempt failed, job will be retried", extra={"image_id": image_id})
                raise JobRetryLater(str(exc)) from exc
            logger.exception("smart-crop job failed", extra={"image_id": image_id})
            return self._fail(job, "internal error while processing the image")
        self.jobs.succeed(image_id)
        self.store.discard_staged(image_id)
        logger.info("smart-crop job succeeded", extra={"image_id": image_id, "crop_box": box.model_dump()})
        return {"image_id": image_id, "status": "succeeded"}

    def _fail(self, job: Job, reason: str) -> dict[str, Any]:
        self.jobs.fail(job.image_id, reason)
        self.store.discard_staged(job.image_id)
        logger.warning("smart-crop job failed", extra={"image_id": job.image_id, "reason": reason})
        return {"image_id": job.image_id, "status": "failed", "error": reason}


def idempotent_processor(
    worker: SmartCropWorker, persistence: BasePersistenceLayer, config: IdempotencyConfig
) -> JobProcessor:
    """`process(job={"image_id": ...})`: a redelivered job returns the stored outcome instead of running again.

    JobRetryLater propagates, which deletes the idempotency record so the next delivery runs.
    """

    def process(job: dict[str, Any]) -> dict[str, Any]:
        return worker.process(str(job["image_id"]))

    wrapped: JobProcessor = idempotent_function(
        process, data_keyword_argument="job", persistence_store=persistence, config=config
    )
    return wrapped
