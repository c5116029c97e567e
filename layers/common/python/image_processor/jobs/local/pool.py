"""The uvicorn dispatcher: a bounded pool of worker tasks in this process (jobs survive a crash in storage)."""

import asyncio
from collections.abc import Callable

import anyio
from aws_lambda_powertools import Logger

from ...errors import DependencyUnavailable, JobRetryLater, ServerBusy
from ...observability import SERVICE_NAME

logger = Logger(service=SERVICE_NAME, child=True)
ABANDONED_JOB_ERROR = "The smart crop could not be completed after repeated attempts; submit the image again."


class LocalWorkerPool:
    """A bounded pool of worker threads for uvicorn. Jobs staged on disk survive a crash:
    `recover()` lists them at start-up and they are queued again; `sweep()` runs every
    `sweep_interval_seconds` to remove staged uploads that no job owns.

    At most `max_jobs` jobs are held (queued, running or waiting to retry); `dispatch` beyond that
    raises ServerBusy. A job that cannot be delivered (its claim is held elsewhere, DynamoDB fails)
    is tried again with a growing delay, at most `max_deliveries` times, then `give_up` marks it failed.
    """

    def __init__(
        self,
        process: Callable[[str], object],
        *,
        recover: Callable[[], list[str]],
        give_up: Callable[[str, str], object],
        concurrency: int,
        max_jobs: int,
        sweep: Callable[[], object] | None = None,
        sweep_interval_seconds: float = 300.0,
        retry_delay_seconds: float = 2.0,
        max_retry_delay_seconds: float = 30.0,
        max_deliveries: int = 10,
        stop_grace_seconds: float = 10.0,
    ) -> None:
        self._process = process
        self._recover = recover
        self._give_up = give_up
        self._sweep = sweep
        self._sweep_interval = sweep_interval_seconds
        self._concurrency = concurrency
        self._max_jobs = max_jobs
        self._retry_delay = retry_delay_seconds
        self._max_retry_delay = max_retry_delay_seconds
        self._max_deliveries = max_deliveries
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._held: dict[str, int] = {}  # image id -> deliveries so far, for every job the pool holds
        self._tasks: list[asyncio.Task[None]] = []
        self._busy: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._stop_grace = stop_grace_seconds
        self._limiter = anyio.CapacityLimiter(concurrency)

    async def start(self) -> None:
        self._stopping = False
        self._tasks = [asyncio.create_task(self._run()) for _ in range(self._concurrency)]
        for image_id in await anyio.to_thread.run_sync(self._recover):
            self._enqueue(image_id)  # recovered jobs were accepted before: never refused
        if self._sweep is not None:
            self._tasks.append(asyncio.create_task(self._sweep_periodically()))

    async def dispatch(self, image_id: str) -> None:
        if len(self._held) >= self._max_jobs:
            raise ServerBusy(
                "Too many smart crops are waiting; retry shortly.", retry_after_seconds=max(1, int(self._retry_delay))
            )
        self._enqueue(image_id)

    async def stop(self) -> None:
        """Let jobs already running finish (up to `stop_grace_seconds`; a job cut short resumes at the next
        start), then stop the workers."""
        self._stopping = True
        running = [task for task in self._tasks if task in self._busy]
        for task in self._tasks:
            if task not in self._busy:
                task.cancel()
        if running:
            await asyncio.wait(running, timeout=self._stop_grace)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def _enqueue(self, image_id: str) -> None:
        self._held.setdefault(image_id, 0)
        self._queue.put_nowait(image_id)

    async def _run(self) -> None:
        me = asyncio.current_task()
        assert me is not None
        while not self._stopping:
            image_id = await self._queue.get()
            self._busy.add(me)
            try:
                await self._deliver(image_id)
            finally:
                self._busy.discard(me)
                self._queue.task_done()

    async def _deliver(self, image_id: str) -> None:
        deliveries = self._held.get(image_id, 0) + 1
        self._held[image_id] = deliveries
        try:
            await anyio.to_thread.run_sync(self._process, image_id, limiter=self._limiter)
        except (JobRetryLater, DependencyUnavailable) as exc:
            reason = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # an unexpected failure outside the worker's own handling: logged once below
            reason = f"{type(exc).__name__}: {exc}"
        else:
            self._held.pop(image_id, None)
            return
        if deliveries >= self._max_deliveries:
            self._held.pop(image_id, None)
            logger.error("smart-crop job abandoned", extra={"image_id": image_id, "reason": reason})
            await anyio.to_thread.run_sync(self._try_give_up, image_id)
            return
        delay = min(self._retry_delay * 2 ** (deliveries - 1), self._max_retry_delay)
        logger.warning("smart-crop job will be retried", extra={"image_id": image_id, "reason": reason, "delay": delay})
        asyncio.get_running_loop().call_later(delay, self._queue.put_nowait, image_id)

    def _try_give_up(self, image_id: str) -> None:
        # The job's public error is a fixed sentence; the exception (`reason`) was logged above.
        try:
            self._give_up(image_id, ABANDONED_JOB_ERROR)
        except DependencyUnavailable:
            logger.error("could not mark an abandoned job failed; its deadline will", extra={"image_id": image_id})

    async def _sweep_periodically(self) -> None:
        assert self._sweep is not None
        while True:
            # Not at once: an upload whose job is missing at start-up gets one interval's grace.
            await asyncio.sleep(self._sweep_interval)
            try:
                await anyio.to_thread.run_sync(self._sweep)
            except DependencyUnavailable as exc:
                logger.warning("staged-upload sweep skipped", extra={"reason": str(exc)})
