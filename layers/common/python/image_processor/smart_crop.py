"""Accepting smart-crop requests and reporting on their jobs."""

import time
from collections.abc import Callable

import anyio
from aws_lambda_powertools import Logger

from .dispatch import Dispatcher
from .errors import DependencyUnavailable
from .ids import new_image_id
from .jobs import Job, JobStore
from .manual_crop import ImageService
from .observability import SERVICE_NAME
from .storage import ImageStore

logger = Logger(service=SERVICE_NAME, child=True)


class SmartCropService:
    def __init__(
        self,
        images: ImageService,
        store: ImageStore,
        jobs: JobStore,
        dispatcher: Dispatcher,
        *,
        deadline_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._images = images
        self._store = store
        self._jobs = jobs
        self._dispatcher = dispatcher
        self._deadline = deadline_seconds
        self._clock = clock

    async def accept(self, source: bytes, product_id: str) -> Job:
        """Check the upload is an image, stage it, record the job and queue it. The crop happens later."""
        await self._images.probe(source)
        job = Job(image_id=new_image_id(), product_id=product_id, status="pending", created_at=self._clock())
        await anyio.to_thread.run_sync(self._store.stage, job.image_id, source)
        try:
            await anyio.to_thread.run_sync(self._jobs.create, job)
        except DependencyUnavailable:
            await anyio.to_thread.run_sync(self._store.discard_staged, job.image_id)
            raise
        try:
            await self._dispatcher.dispatch(job.image_id)
        except DependencyUnavailable:
            await anyio.to_thread.run_sync(self._abandon, job.image_id)
            raise
        logger.info("smart-crop job accepted", extra={"image_id": job.image_id, "product_id": product_id})
        return job

    async def status(self, image_id: str) -> Job | None:
        """The job, marked failed first if it has outlived its deadline without finishing."""
        job = await anyio.to_thread.run_sync(self._jobs.get, image_id)
        if job is None or job.is_terminal or self._clock() - job.created_at <= self._deadline:
            return job
        await anyio.to_thread.run_sync(self._jobs.fail_if_unfinished, image_id, "timed out before it finished")
        return await anyio.to_thread.run_sync(self._jobs.get, image_id)

    def _abandon(self, image_id: str) -> None:
        self._store.discard_staged(image_id)
        self._jobs.fail(image_id, "could not be queued")
