"""Handing jobs to workers: the local pool (bounded, retrying, resuming) and asynchronous Lambda invocation."""

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from image_processor.aws import clients as aws
from image_processor.errors import DependencyUnavailable, JobInProgress, JobRetryLater, ServerBusy
from image_processor.jobs.dispatch import LambdaDispatcher
from image_processor.jobs.local.pool import ABANDONED_JOB_ERROR, LocalWorkerPool
from image_processor.settings import Settings
from tools.processes import free_port


class Recorder:
    def __init__(self, *, fail_first: dict[str, Exception] | None = None, work_seconds: float = 0.0) -> None:
        self.fail_first = dict(fail_first or {})
        self.work_seconds = work_seconds
        self.calls: Counter[str] = Counter()
        self.running = 0
        self.most_running = 0
        self._lock = threading.Lock()

    def __call__(self, image_id: str) -> None:
        with self._lock:
            self.calls[image_id] += 1
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            failure = self.fail_first.pop(image_id, None)
        try:
            time.sleep(self.work_seconds)
            if failure is not None:
                raise failure
        finally:
            with self._lock:
                self.running -= 1


def make_pool(process: Recorder, **options: Any) -> tuple[LocalWorkerPool, list[tuple[str, str]]]:
    """A pool with room for 100 jobs whose given-up jobs are recorded instead of marked failed."""
    given_up: list[tuple[str, str]] = []
    settings: dict[str, Any] = {
        "recover": list,
        "concurrency": 2,
        "max_jobs": 100,
        "retry_delay_seconds": 0.05,
        "give_up": lambda image_id, reason: given_up.append((image_id, reason)),
    }
    return LocalWorkerPool(process, **(settings | options)), given_up


async def eventually(condition: Callable[[], bool], *, deadline_seconds: float = 15) -> None:
    """Poll `condition` until it holds; a generous deadline, since a loaded machine may be slow."""
    deadline = time.monotonic() + deadline_seconds
    while not condition():
        assert time.monotonic() < deadline, "the pool did not get there in time"
        await asyncio.sleep(0.01)


async def run_until(pool: LocalWorkerPool, image_ids: list[str], done: Callable[[], bool]) -> None:
    await pool.start()
    try:
        for image_id in image_ids:
            await pool.dispatch(image_id)
        await eventually(done)
    finally:
        await pool.stop()


def test_the_pool_runs_every_job_with_bounded_concurrency() -> None:
    process = Recorder(work_seconds=0.05)
    pool, _ = make_pool(process, concurrency=3)
    ids = [f"job{i}" for i in range(12)]

    asyncio.run(run_until(pool, ids, lambda: process.calls == Counter(ids)))

    assert process.most_running == 3


@pytest.mark.parametrize(
    "failure",
    [JobRetryLater("AI timed out"), JobInProgress("another worker has it"), RuntimeError("bug")],
)
def test_a_job_that_asks_for_a_retry_is_delivered_again(failure: Exception) -> None:
    process = Recorder(fail_first={"job1": failure})
    pool, given_up = make_pool(process)

    asyncio.run(run_until(pool, ["job1", "job2"], lambda: process.calls == Counter({"job1": 2, "job2": 1})))

    assert given_up == []


def test_staged_jobs_are_resumed_at_start() -> None:
    """Audit 15: BackgroundTasks lost accepted work on a restart; staged jobs are queued again."""
    process = Recorder()
    pool, _ = make_pool(process, recover=lambda: ["left1", "left2"])

    asyncio.run(run_until(pool, [], lambda: process.calls == Counter({"left1": 1, "left2": 1})))


@pytest.mark.parametrize("failure", [JobInProgress("another worker has it"), DependencyUnavailable("DynamoDB is down")])
def test_a_job_that_never_makes_progress_is_given_up_after_its_last_delivery(failure: Exception) -> None:
    """Not requeued forever: after max_deliveries the job is handed to give_up (which marks it failed)."""

    class AlwaysFailing(Recorder):
        def __call__(self, image_id: str) -> None:
            super().__call__(image_id)
            raise failure

    process = AlwaysFailing()
    pool, given_up = make_pool(process, max_deliveries=4, retry_delay_seconds=0.01, max_jobs=1)

    async def scenario() -> None:
        await run_until(pool, ["stuck"], lambda: len(given_up) == 1)
        await pool.start()
        try:
            await pool.dispatch("next")  # the pool holds one job at most: the abandoned one is no longer held
        finally:
            await pool.stop()

    asyncio.run(scenario())

    assert process.calls["stuck"] == 4
    assert given_up == [("stuck", ABANDONED_JOB_ERROR)]  # the exception's text is logged, never made public
    assert str(failure) not in given_up[0][1]


def test_a_full_pool_refuses_new_jobs_until_one_ends() -> None:
    gate = threading.Event()

    class Gated(Recorder):
        def __call__(self, image_id: str) -> None:
            super().__call__(image_id)
            gate.wait(10)

    process = Gated()
    pool, _ = make_pool(process, concurrency=1, max_jobs=2)

    async def dispatch_once_there_is_room(image_id: str) -> None:
        deadline = time.monotonic() + 15
        while True:
            try:
                return await pool.dispatch(image_id)
            except ServerBusy:
                assert time.monotonic() < deadline, "the pool never made room"
                await asyncio.sleep(0.01)

    async def scenario() -> None:
        await pool.start()
        try:
            await pool.dispatch("first")
            await pool.dispatch("second")
            with pytest.raises(ServerBusy) as refused:
                await pool.dispatch("third")
            assert refused.value.retry_after_seconds >= 1
            gate.set()
            await dispatch_once_there_is_room("fourth")
            await eventually(lambda: process.calls["fourth"] == 1)
        finally:
            await pool.stop()

    asyncio.run(scenario())


def test_a_lambda_dispatch_that_cannot_be_queued_is_unavailable(settings: Settings) -> None:
    unreachable = settings.model_copy(update={"aws_endpoint_url": f"http://127.0.0.1:{free_port()}"})
    dispatcher = LambdaDispatcher(aws.client("lambda", unreachable), "product-image-processor-smart-crop-worker")
    with pytest.raises(DependencyUnavailable):
        asyncio.run(dispatcher.dispatch("0" * 32))


def test_the_pool_sweeps_periodically_but_not_at_start() -> None:
    sweeps: list[float] = []
    pool, _ = make_pool(Recorder(), sweep=lambda: sweeps.append(time.monotonic()), sweep_interval_seconds=0.1)

    async def scenario() -> float:
        started = time.monotonic()
        await pool.start()
        try:
            await eventually(lambda: len(sweeps) >= 2)
        finally:
            await pool.stop()
        return started

    started = asyncio.run(scenario())
    assert sweeps[0] - started >= 0.1  # an upload whose job is missing at start-up gets one interval's grace
