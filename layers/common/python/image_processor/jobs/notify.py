"""POSTing a job to its callback_url when it ends, retried with backoff for up to an hour.

The hook runs where the job ended (worker, or the API that failed it at its deadline). Each attempt is
recorded on the job (`webhook_attempts`, `webhook_status`). Retries wait 1 s, then twice as long each
time (at most 10 minutes apart) until an hour has passed since the job ended. Where the waiting happens
is the scheduler's business: a timer thread under uvicorn (jobs/local/timers.py); on Lambda, inline
within a few seconds of the invocation's budget (docs/webhooks.md says what a queue would add).
"""

import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools import Logger

from ..observability import SERVICE_NAME
from .records import Job

if TYPE_CHECKING:  # httpx, which the sender uses, costs a cold start that only webhooks need
    from ..webhooks.sender import WebhookSender

logger = Logger(service=SERVICE_NAME, child=True)

GIVE_UP_AFTER_SECONDS = 3600.0
MAX_DELAY_SECONDS = 600.0


class Scheduler(Protocol):
    def schedule(self, delay_seconds: float, action: Callable[[], None]) -> bool:
        """Run `action` after about `delay_seconds`; False if this scheduler cannot wait that long."""


class DeliveryRecorder(Protocol):
    def record_delivery(self, image_id: str, *, attempts: int, status: str) -> None: ...


def job_payload(job: Job) -> dict[str, Any]:
    """The job as GET /jobs/{image_id} shows it, with its product."""
    return {
        "image_id": job.image_id,
        "product_id": job.product_id,
        "status": job.status,
        "retrieval_url": f"/images/{job.result_key}",
        "error": job.error,
        "crop_box": job.crop_box.model_dump() if job.crop_box else None,
        "object_found": job.object_found,
        "checks": job.checks,
    }


class WebhookNotifier:
    """The job-ended hook: the first attempt at once, then retries through the scheduler."""

    def __init__(
        self,
        sender: "WebhookSender",
        recorder: DeliveryRecorder,
        scheduler: Scheduler,
        *,
        first_delay_seconds: float = 1.0,
        give_up_after_seconds: float = GIVE_UP_AFTER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sender = sender
        self._recorder = recorder
        self._scheduler = scheduler
        self._first_delay = first_delay_seconds
        self._give_up_after = give_up_after_seconds
        self._clock = clock

    def __call__(self, job: Job) -> None:
        if job.callback_url is None:
            return
        self._scheduler.schedule(0, functools.partial(self._attempt, job, 1, self._clock()))

    def _attempt(self, job: Job, number: int, started: float) -> None:
        assert job.callback_url is not None
        result = self._sender.send(job.callback_url, f"job_{job.image_id}_{job.status}", job_payload(job))
        delay = min(self._first_delay * 2 ** (number - 1), MAX_DELAY_SECONDS)
        retry = not result.delivered and self._clock() - started + delay <= self._give_up_after
        if retry and not self._scheduler.schedule(delay, functools.partial(self._attempt, job, number + 1, started)):
            retry = False
        status = result.status if result.delivered or retry else f"{result.status}; gave up"
        self._recorder.record_delivery(job.image_id, attempts=number, status=status)
        log = logger.info if result.delivered else logger.warning
        log("webhook attempt", extra={"image_id": job.image_id, "attempt": number, "status": status})


class InlineScheduler:
    """Runs actions in the calling thread, sleeping between them, within `budget_seconds` in all: for a
    Lambda invocation, which must not wait an hour. What would wait longer is refused (and recorded)."""

    def __init__(self, budget_seconds: float, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._budget = budget_seconds
        self._sleep = sleep
        self._queue: list[tuple[float, Callable[[], None]]] = []
        self._spent = 0.0
        self._running = False

    def schedule(self, delay_seconds: float, action: Callable[[], None]) -> bool:
        if self._spent + delay_seconds > self._budget:
            return False
        self._queue.append((delay_seconds, action))
        if not self._running:
            self._run()
        return True

    def _run(self) -> None:
        self._running = True
        try:
            while self._queue:
                delay, action = self._queue.pop(0)
                self._spent += delay
                self._sleep(delay)
                action()
        finally:
            self._running, self._spent = False, 0.0
