"""Webhook deliveries due later, on one daemon thread (uvicorn): waiting costs no thread per retry.

What waits is data (a Delivery), the same a Lambda's retry queue holds; the job record notes when each
is due, so those still waiting when the process stops are scheduled again at the next start
(jobs/local/recovery.py)."""

import heapq
import itertools
import threading
import time
from collections.abc import Callable

from aws_lambda_powertools import Logger

from ...observability import SERVICE_NAME
from ...webhooks.retries import Delivery

logger = Logger(service=SERVICE_NAME, child=True)


class TimerScheduler:
    def __init__(self, run: Callable[[Delivery], None], *, clock: Callable[[], float] = time.monotonic) -> None:
        self._run_delivery = run
        self._clock = clock
        self._due: list[tuple[float, int, Delivery]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def schedule(self, delivery: Delivery, delay_seconds: float) -> bool:
        with self._wake:
            heapq.heappush(self._due, (self._clock() + max(0.0, delay_seconds), next(self._order), delivery))
            if self._thread is None:
                # A daemon: what still waits when the process exits is on the job record, for the next start.
                self._thread = threading.Thread(target=self._run, name="webhook-timers", daemon=True)
                self._thread.start()
            self._wake.notify()
        return True

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._due or self._due[0][0] > self._clock():
                    self._wake.wait(timeout=(self._due[0][0] - self._clock()) if self._due else None)
                _, _, delivery = heapq.heappop(self._due)
            try:
                self._run_delivery(delivery)
            except Exception:  # one failed delivery must not stop the others
                logger.exception("webhook delivery failed", extra={"image_id": delivery.image_id})
