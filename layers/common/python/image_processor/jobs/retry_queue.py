"""Webhook retries on Lambda: an SQS queue holds each `Delivery` until it is due, and the worker function,
fed by the queue's event source mapping, makes it.

SQS holds a message back for at most 15 minutes (DelaySeconds); a retry due later is put back, with
what remains of its wait, each time it comes out early.
"""

import functools
import math
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from ..aws.errors import translate
from ..observability import SERVICE_NAME
from ..webhooks.retries import Delivery

logger = Logger(service=SERVICE_NAME, child=True)

MAX_QUEUE_DELAY_SECONDS = 900
# A message that comes out this close to its due time is made at once rather than put back.
_EARLY_TOLERANCE_SECONDS = 1.0
_UNAVAILABLE = "The webhook retry could not be queued."


class RetryQueue:
    """The Lambda scheduler: a delivery due now is made in this invocation (`run`); a later one is sent to
    the queue with its wait as DelaySeconds, and the worker function, fed by the queue, `receive`s it."""

    def __init__(
        self,
        client: Callable[[], Any],
        queue_name: str,
        run: Callable[[Delivery], None],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # Made on the first retry: most invocations, and every cold start, need no SQS client.
        self._client = functools.cache(client)
        self._queue_name = queue_name
        self._url: str | None = None
        self._run = run
        self._clock = clock

    def schedule(self, delivery: Delivery, delay_seconds: float) -> bool:
        if delay_seconds <= 0:
            self._run(delivery)
        else:
            self._send(delivery, delay_seconds)
        return True

    def receive(self, body: str) -> None:
        """A message from the queue: made now if due, else put back for the rest of its wait."""
        delivery = Delivery.from_message(body)
        wait = delivery.due_at - self._clock()
        if wait > _EARLY_TOLERANCE_SECONDS:
            self._send(delivery, wait)
        else:
            self._run(delivery)

    def _send(self, delivery: Delivery, delay_seconds: float) -> None:
        delay = min(MAX_QUEUE_DELAY_SECONDS, max(0, math.ceil(delay_seconds)))
        queue_url = self._queue_url()
        with translate("SendMessage", queue_url, message=_UNAVAILABLE):
            self._client().send_message(QueueUrl=queue_url, MessageBody=delivery.to_message(), DelaySeconds=delay)

    def _queue_url(self) -> str:
        """Looked up by name once (the deployment knows the name before the queue exists, not its URL)."""
        if self._url is None:
            with translate("GetQueueUrl", self._queue_name, message=_UNAVAILABLE):
                self._url = str(self._client().get_queue_url(QueueName=self._queue_name)["QueueUrl"])
        return self._url


class NoRetries:
    """Lambda without a retry queue (WEBHOOK_RETRY_QUEUE_NAME unset): the first attempt only."""

    def __init__(self, run: Callable[[Delivery], None]) -> None:
        self._run = run

    def schedule(self, delivery: Delivery, delay_seconds: float) -> bool:
        if delay_seconds > 0:
            return False
        self._run(delivery)
        return True


def receive_batch(queue: RetryQueue | None, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """An SQS event of the retry queue (its event source mapping reports batch item failures): each message
    received; one that raised (DynamoDB or the queue unavailable) is reported, so SQS delivers it again
    and, after the queue's redrive count, moves it to its dead-letter queue. A malformed one is dropped."""
    # Imported here: only the retry queue's invocations need them.
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    def receive(record: SQSRecord) -> None:
        if queue is None:
            logger.warning("webhook retry dropped: webhooks or their retry queue are not configured")
            return
        try:
            queue.receive(record.body)
        except ValueError as exc:
            logger.error("malformed webhook retry dropped", extra={"reason": str(exc)})

    processor = BatchProcessor(event_type=EventType.SQS)
    return dict(process_partial_response(event=event, record_handler=receive, processor=processor, context=context))
