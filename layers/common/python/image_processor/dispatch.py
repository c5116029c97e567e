"""Hand accepted smart-crop jobs to a worker: async Lambda invocation, or a local worker pool."""

import asyncio
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import anyio
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from botocore.exceptions import BotoCoreError, ClientError

from .errors import DependencyUnavailable, JobRetryLater
from .observability import SERVICE_NAME

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

logger = Logger(service=SERVICE_NAME, child=True)


class Dispatcher(Protocol):
    async def start(self) -> None: ...
    async def dispatch(self, image_id: str) -> None: ...
    async def stop(self) -> None: ...


class LambdaDispatcher:
    """Invokes the worker function asynchronously; Lambda retries it and dead-letters what still fails."""

    def __init__(self, client: "LambdaClient", function_name: str) -> None:
        self._client = client
        self._function_name = function_name

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def dispatch(self, image_id: str) -> None:
        await anyio.to_thread.run_sync(self._invoke, image_id)

    def _invoke(self, image_id: str) -> None:
        try:
            response = self._client.invoke(
                FunctionName=self._function_name,
                InvocationType="Event",
                Payload=json.dumps({"image_id": image_id}).encode(),
            )
        except (BotoCoreError, ClientError) as exc:
            logger.error("could not invoke the worker", extra={"image_id": image_id, "reason": str(exc)})
            raise DependencyUnavailable("Smart crop could not be queued; retry shortly.") from exc
        if response.get("StatusCode") != 202:
            raise DependencyUnavailable("Smart crop could not be queued; retry shortly.")


class LocalWorkerPool:
    """A bounded pool of worker threads for uvicorn. Jobs staged on disk survive a crash:
    `recover()` lists them at start-up and they are queued again."""

    def __init__(
        self,
        process: Callable[[str], object],
        *,
        recover: Callable[[], list[str]],
        concurrency: int,
        retry_delay_seconds: float = 2.0,
    ) -> None:
        self._process = process
        self._recover = recover
        self._concurrency = concurrency
        self._retry_delay = retry_delay_seconds
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._limiter = anyio.CapacityLimiter(concurrency)

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run()) for _ in range(self._concurrency)]
        recovered = await anyio.to_thread.run_sync(self._recover)
        for image_id in recovered:
            self._queue.put_nowait(image_id)
        if recovered:
            logger.info("resuming staged smart-crop jobs", extra={"count": len(recovered)})

    async def dispatch(self, image_id: str) -> None:
        self._queue.put_nowait(image_id)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def join(self) -> None:
        """Wait until every queued job has been handled (used by tests and benchmarks)."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            image_id = await self._queue.get()
            try:
                await anyio.to_thread.run_sync(self._process, image_id, limiter=self._limiter)
            except (JobRetryLater, IdempotencyAlreadyInProgressError):
                asyncio.get_running_loop().call_later(self._retry_delay, self._queue.put_nowait, image_id)
            except Exception:
                logger.exception("smart-crop job raised", extra={"image_id": image_id})
                asyncio.get_running_loop().call_later(self._retry_delay, self._queue.put_nowait, image_id)
            finally:
                self._queue.task_done()
