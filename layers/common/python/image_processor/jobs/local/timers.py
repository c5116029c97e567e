"""Delayed actions on one daemon thread (webhook retries under uvicorn): waiting costs no thread per retry."""

import heapq
import itertools
import threading
import time
from collections.abc import Callable

from aws_lambda_powertools import Logger

from ...observability import SERVICE_NAME

logger = Logger(service=SERVICE_NAME, child=True)


class TimerScheduler:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def schedule(self, delay_seconds: float, action: Callable[[], None]) -> bool:
        with self._wake:
            heapq.heappush(self._due, (self._clock() + delay_seconds, next(self._order), action))
            if self._thread is None:
                # A daemon: retries still waiting when the process exits are not worth holding it open for.
                self._thread = threading.Thread(target=self._run, name="webhook-timers", daemon=True)
                self._thread.start()
            self._wake.notify()
        return True

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._due or self._due[0][0] > self._clock():
                    self._wake.wait(timeout=(self._due[0][0] - self._clock()) if self._due else None)
                _, _, action = heapq.heappop(self._due)
            try:
                action()
            except Exception:  # one failed action must not stop the others
                logger.exception("scheduled action failed")
