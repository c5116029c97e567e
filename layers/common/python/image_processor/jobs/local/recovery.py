"""What the local worker pool does with the staged uploads it finds: resume, release, or sweep away.

At start-up every staged upload is looked at once:
- its job is unfinished: it is queued again; if the job's last attempt was started by a process of
  this host that has died (a crash, `kill -9`), that process's idempotency claim is released first,
  so the job resumes at once instead of after the claim's lifetime (WORKER_TIMEOUT_SECONDS);
- its job has finished: the leftover is removed (and the image of a job that failed);
- its job is missing: it is left to the sweeper, which removes it once a later sweep still finds
  no job, so an upload whose record is still being written by another process is not lost.

And every webhook retry still pending (the jobs table's sparse index lists them) is scheduled again.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from aws_lambda_powertools import Logger

from ...errors import DependencyUnavailable
from ...observability import SERVICE_NAME
from ...storage.interfaces import ResultStore, StagingArea
from ...webhooks.retries import Delivery
from .. import ownership
from ..notify import Scheduler
from ..records import Job, JobStore

logger = Logger(service=SERVICE_NAME, child=True)


class PendingDeliveries(Protocol):
    def pending_deliveries(self) -> list[Job]: ...


@dataclass
class StagedUploads:
    results: ResultStore
    staging: StagingArea
    jobs: JobStore
    release_claim: Callable[[str], None]
    is_dead: Callable[[str | None], bool] = ownership.is_dead_here
    _orphans: set[str] = field(default_factory=set)

    def recover(self) -> list[str]:
        """The ids to queue again at start-up (releasing the claims of dead local workers on the way)."""
        resume: list[str] = []
        released = 0
        for image_id in self.staging.staged_ids():
            job = self.jobs.get(image_id)
            if job is None:
                self._orphans.add(image_id)
                continue
            if job.is_terminal:
                if job.status == "failed":
                    self.results.delete(job.result_key)
                self.staging.discard_staged(image_id)
                continue
            if job.status == "processing" and self.is_dead(job.owner):
                self.release_claim(image_id)
                released += 1
            resume.append(image_id)
        if resume:
            logger.info("resuming staged smart-crop jobs", extra={"count": len(resume), "released_claims": released})
        return resume

    def sweep(self) -> int:
        """Remove staged uploads whose job was missing at the previous sweep and still is; returns how many."""
        suspects, self._orphans = self._orphans, set()
        removed = 0
        for image_id in self.staging.staged_ids():
            if self.jobs.get(image_id) is not None:
                continue
            if image_id in suspects:
                self.staging.discard_staged(image_id)
                removed += 1
            else:
                self._orphans.add(image_id)
        if removed:
            logger.warning("removed staged uploads without a job", extra={"count": removed})
        return removed


def reschedule_pending_deliveries(
    jobs: PendingDeliveries, scheduler: Scheduler, *, clock: Callable[[], float] = time.time
) -> int:
    """At start-up: every webhook attempt a previous process owed, scheduled again here (a retry when the
    job record says it is due; a first attempt at once, for a job that ended as that process died); how many."""
    try:
        pending = jobs.pending_deliveries()
    except DependencyUnavailable as exc:
        logger.error("pending webhook retries could not be read; they are not retried", extra={"reason": str(exc)})
        return 0
    now = clock()
    # A job still running is listed from its start; its end schedules the first attempt.
    owed = [job for job in pending if job.is_terminal]
    for job in owed:
        if job.webhook_attempts == 0:  # ended, and the process died before the first attempt
            due = first = now
        else:
            due = job.webhook_next_attempt_at or now
            first = job.webhook_first_attempt_at or due
        scheduler.schedule(Delivery(job.image_id, job.webhook_attempts + 1, first, due, job.product_id), due - now)
    if owed:
        logger.info("rescheduled pending webhook attempts", extra={"count": len(owed)})
    return len(owed)
