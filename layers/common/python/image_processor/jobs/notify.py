"""POSTing a job to its callback_url when it ends, retried with backoff for up to an hour.

The hook runs where the job ended (worker, or the API that failed it at its deadline) and schedules
the first attempt now. Each attempt is a `Delivery` (data): the scheduler makes it when due through
`deliver`, which loads the job, POSTs it and records on the job the attempts, the last status and,
while a retry is pending, when it is due (`webhook_next_attempt_at`), so a restart can reschedule it
(jobs/local/recovery.py). Retries wait 1 s, then twice as long each time (at most 10 minutes apart),
until an hour has passed since the first attempt. The scheduler is a timer thread under uvicorn
(jobs/local/timers.py) and an SQS queue with a delay on Lambda (webhooks/retries.py).

A delivery made twice (SQS delivers at least once) is recognised by its attempt number, which the job
already counts: it is dropped before it sends, or, if two copies raced, its count is not written twice.
"""

import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools import Logger

from ..observability import SERVICE_NAME
from ..webhooks.retries import Delivery
from .records import Job

if TYPE_CHECKING:  # httpx, which the sender uses, costs a cold start that only webhooks need
    from ..webhooks.sender import WebhookSender

logger = Logger(service=SERVICE_NAME, child=True)

GIVE_UP_AFTER_SECONDS = 3600.0
MAX_DELAY_SECONDS = 600.0


class Scheduler(Protocol):
    def schedule(self, delivery: Delivery, delay_seconds: float) -> bool:
        """Make `delivery` after about `delay_seconds` (0: now); False if this scheduler cannot wait that long."""


class DeliveryLedger(Protocol):
    """Where a job's deliveries are counted: the job store."""

    def get(self, image_id: str) -> Job | None: ...

    def record_delivery(
        self, image_id: str, *, attempts: int, status: str, first_attempt_at: float, next_attempt_at: float | None
    ) -> bool: ...

    def abandon_delivery(self, image_id: str, *, status: str) -> None: ...


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


def retry_delay(attempt: int, first_delay_seconds: float = 1.0) -> float:
    """How long to wait after the `attempt`-th attempt failed."""
    return min(first_delay_seconds * 2.0 ** (attempt - 1), MAX_DELAY_SECONDS)


class WebhookNotifier:
    """The job-ended hook, and the maker of each attempt the scheduler hands back."""

    def __init__(
        self,
        sender: "WebhookSender",
        ledger: DeliveryLedger,
        scheduler: Scheduler,
        *,
        first_delay_seconds: float = 1.0,
        give_up_after_seconds: float = GIVE_UP_AFTER_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sender = sender
        self._ledger = ledger
        self._scheduler = scheduler
        self._first_delay = first_delay_seconds
        self._give_up_after = give_up_after_seconds
        self._clock = clock

    def __call__(self, job: Job) -> None:
        if job.callback_url is None:
            return
        now = self._clock()
        self._scheduler.schedule(Delivery(job.image_id, 1, now, now, job.product_id), 0)

    def deliver(self, delivery: Delivery) -> None:
        """Make the attempt, record it, and schedule the next one if it failed and the hour is not spent."""
        job = self._ledger.get(delivery.image_id)
        if job is None or job.callback_url is None or not job.is_terminal:
            return  # deleted (and expired) since, or not a job this hook ever scheduled
        if job.webhook_attempts >= delivery.attempt:
            logger.info("duplicate webhook attempt dropped", extra={"image_id": job.image_id, **_fields(delivery)})
            return
        result = self._sender.send(job.callback_url, f"job_{job.image_id}_{job.status}", job_payload(job))
        now = self._clock()
        delay = retry_delay(delivery.attempt, self._first_delay)
        retry = not result.delivered and now - delivery.first_attempt_at + delay <= self._give_up_after
        status = result.status if result.delivered or retry else f"{result.status}; gave up"
        recorded = self._ledger.record_delivery(
            job.image_id,
            attempts=delivery.attempt,
            status=status,
            first_attempt_at=delivery.first_attempt_at,
            next_attempt_at=now + delay if retry else None,
        )
        if not recorded:  # a copy of this attempt counted itself first: its copy schedules the next
            return
        log = logger.info if result.delivered else logger.warning
        log("webhook attempt", extra={"image_id": job.image_id, "attempt": delivery.attempt, "status": status})
        if retry:
            following = replace(delivery, attempt=delivery.attempt + 1, due_at=now + delay)
            self._schedule_retry(following, delay, result.status)

    def _schedule_retry(self, delivery: Delivery, delay: float, last_status: str) -> None:
        try:
            scheduled = self._scheduler.schedule(delivery, delay)
        except Exception:  # the queue is down: the job says so rather than promising a retry
            logger.exception("webhook retry could not be scheduled", extra={"image_id": delivery.image_id})
            scheduled = False
        if not scheduled:
            self._ledger.abandon_delivery(delivery.image_id, status=f"{last_status}; gave up")


def _fields(delivery: Delivery) -> dict[str, Any]:
    return {"attempt": delivery.attempt, "first_attempt_at": delivery.first_attempt_at}
