"""Accepting smart-crop requests and reporting on their jobs."""

import functools
import time
from collections.abc import Awaitable, Callable

import anyio
from aws_lambda_powertools import Logger

from ..catalog.records import CatalogEntry, DynamoDBCatalog
from ..errors import DependencyUnavailable, ServerBusy
from ..ids import new_image_id
from ..images import ImageService
from ..metrics import ServiceMetrics, discarding
from ..observability import SERVICE_NAME, annotate_trace
from ..storage.interfaces import ResultStore, StagingArea
from ..storage.keys import image_folder
from ..storage.spool import ImageSource, read_source
from ..webhooks.targets import WebhookPolicy
from .dispatch import Dispatcher
from .records import TIMED_OUT, Job, JobStore

logger = Logger(service=SERVICE_NAME, child=True)


class SmartCropService:
    def __init__(
        self,
        images: ImageService,
        results: ResultStore,
        staging: StagingArea,
        jobs: JobStore,
        dispatcher: Dispatcher,
        *,
        deadline_seconds: int,
        clock: Callable[[], float] = time.time,
        catalog: DynamoDBCatalog | None = None,
        webhooks: WebhookPolicy | None = None,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self._catalog = catalog
        self._webhooks = webhooks or WebhookPolicy([])
        self._images = images
        self._results = results
        self._staging = staging
        self._jobs = jobs
        self._dispatcher = dispatcher
        self._deadline = deadline_seconds
        self._clock = clock
        self._metrics = metrics or discarding()

    def check_callback(self, url: str) -> str:
        """A callback_url the service may POST to; InvalidRequest (422) saying why not, or that webhooks are off."""
        return self._webhooks.check(url)

    async def accept(
        self,
        source: ImageSource,
        product_id: str,
        *,
        admit: Callable[[], Awaitable[None]] | None = None,
        callback_url: str | None = None,
        checks_profile: str | None = None,
        renditions: tuple[str, ...] = (),
    ) -> Job:
        """Check the upload is an image, stage it, record the job and queue it. The crop happens later.

        `admit` runs once the upload is known to be an image, before anything is written (the quota slot).
        `renditions` names the presets the worker makes before the job succeeds.
        """
        await self._images.probe(source)
        if admit is not None:
            await admit()
        job = Job(
            image_id=new_image_id(),
            product_id=product_id,
            status="pending",
            created_at=self._clock(),
            callback_url=callback_url,
            checks_profile=checks_profile,
            renditions=renditions,
        )
        await self._write_before_dispatch(job, source)
        try:
            await self._dispatcher.dispatch(job.image_id)
        except (DependencyUnavailable, ServerBusy):
            await anyio.to_thread.run_sync(self._abandon, job)
            raise
        logger.info("smart-crop job accepted", extra={"image_id": job.image_id, "product_id": product_id})
        annotate_trace(image_id=job.image_id, job_status=job.status)
        return job

    async def _write_before_dispatch(self, job: Job, source: ImageSource) -> None:
        """Write the staged upload, the job record and the catalog entry at the same time: they do not depend
        on each other, and the 202 waits for all three (the worker updates the entry when the job ends, so it
        must be there before the dispatch). If any fails, none is left behind as a job that can never run."""
        failures: dict[str, Exception] = {}

        async def attempt(name: str, write: Callable[[], object]) -> None:
            try:
                await anyio.to_thread.run_sync(write)
            except Exception as exc:  # re-raised below, once both writes have ended and been undone
                failures[name] = exc

        async with anyio.create_task_group() as writes:
            writes.start_soon(attempt, "stage", functools.partial(self._stage, job.image_id, source))
            writes.start_soon(attempt, "record", functools.partial(self._jobs.create, job))
            writes.start_soon(attempt, "catalogue", functools.partial(self._catalogue, job))
        if not failures:
            return
        await anyio.to_thread.run_sync(self._undo_writes, job, frozenset(failures))
        # A DynamoDB outage is the client's 503; a staging failure is the server's own 500.
        raise failures.get("record") or failures.get("catalogue") or failures["stage"]

    def _undo_writes(self, job: Job, failed: frozenset[str]) -> None:
        self._staging.discard_staged(job.image_id)
        try:
            if "record" not in failed:
                reason = "the upload could not be staged" if "stage" in failed else "could not be catalogued"
                self._jobs.fail(job.image_id, reason)
            if "catalogue" not in failed and self._catalog is not None:
                self._catalog.delete(job.product_id, job.image_id)
        except DependencyUnavailable:
            logger.error("could not undo the writes of a job that cannot run", extra={"image_id": job.image_id})

    async def status(self, image_id: str) -> Job | None:
        """The job, marked failed first if it has outlived its deadline without finishing."""
        job = await self._current(image_id)
        if job is not None:
            annotate_trace(image_id=image_id, job_status=job.status)
        return job

    async def _current(self, image_id: str) -> Job | None:
        job = await anyio.to_thread.run_sync(self._jobs.get, image_id)
        if job is None or job.is_terminal or self._clock() - job.created_at <= self._deadline:
            return job
        if await anyio.to_thread.run_sync(self._jobs.fail, image_id, TIMED_OUT):
            self._metrics.job_finished("failed", self._clock() - job.created_at)
            # A worker that wrote the image (and its renditions) and died before it could record success
            # leaves them behind.
            await anyio.to_thread.run_sync(self._remove_outputs, job)
        return await anyio.to_thread.run_sync(self._jobs.get, image_id)

    def _remove_outputs(self, job: Job) -> None:
        self._results.delete(job.result_key)
        self._results.delete_folder(image_folder(job.product_id, job.image_id))

    def _stage(self, image_id: str, source: ImageSource) -> None:
        self._staging.stage(image_id, read_source(source))

    def _catalogue(self, job: Job) -> None:
        if self._catalog is not None:
            entry = CatalogEntry(job.product_id, job.image_id, job.created_at, source="smart", status=job.status)
            self._catalog.add(entry)

    def _abandon(self, job: Job) -> None:
        self._staging.discard_staged(job.image_id)
        self._jobs.fail(job.image_id, "could not be queued")
        if self._catalog is not None:
            self._catalog.delete(job.product_id, job.image_id)
