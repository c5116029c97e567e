"""Webhook retries as data: backoff from 1 s doubling, recorded on the job record (DynamoDB on moto), a
duplicate attempt dropped, the hour's limit, pending retries found again after a restart, and the SQS
retry queue of the Lambda stack (moto's SQS)."""

import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from image_processor.jobs.local.recovery import reschedule_pending_deliveries
from image_processor.jobs.notify import WebhookNotifier, job_payload
from image_processor.jobs.records import DynamoDBJobStore, Job
from image_processor.jobs.retry_queue import RetryQueue, receive_batch
from image_processor.models import CropBox
from image_processor.webhooks.retries import Delivery
from image_processor.webhooks.sender import WebhookSender
from image_processor.webhooks.targets import WebhookPolicy
from tests.support.receiver import Receiver, running_receiver

SECRET = "whsec_" + base64.b64encode(b"webhook-retries-test-secret-0123").decode()


class ListScheduler:
    """Keeps what is scheduled; the test makes the deliveries when it chooses."""

    def __init__(self) -> None:
        self.scheduled: list[tuple[Delivery, float]] = []

    def schedule(self, delivery: Delivery, delay_seconds: float) -> bool:
        self.scheduled.append((delivery, delay_seconds))
        return True

    def run_all(self, deliver: Callable[[Delivery], None]) -> None:
        done = 0
        while done < len(self.scheduled):
            deliver(self.scheduled[done][0])
            done += 1


@pytest.fixture
def jobs(dynamodb: Any, table_names: dict[str, str]) -> DynamoDBJobStore:
    return DynamoDBJobStore(dynamodb, table_names["jobs"], ttl_seconds=3600)


def ended_job(jobs: DynamoDBJobStore, url: str) -> Job:
    image_id = uuid.uuid4().hex
    jobs.create(Job(image_id, "ABC-123", "pending", time.time(), callback_url=url))
    assert jobs.succeed(image_id, crop_box=CropBox(x=0, y=0, width=10, height=10), object_found=True)
    job = jobs.get(image_id)
    assert job is not None
    return job


def notifier(receiver: Receiver, jobs: DynamoDBJobStore, scheduler: Any, **options: Any) -> WebhookNotifier:
    return WebhookNotifier(WebhookSender(SECRET, WebhookPolicy([receiver.url])), jobs, scheduler, **options)


def test_retries_back_off_from_one_second_doubling_until_delivered(jobs: DynamoDBJobStore) -> None:
    scheduler = ListScheduler()
    with running_receiver([500, 503]) as receiver:
        hook = notifier(receiver, jobs, scheduler)
        job = ended_job(jobs, receiver.url)
        hook(job)
        scheduler.run_all(hook.deliver)

    assert [(delivery.attempt, delay) for delivery, delay in scheduler.scheduled] == [(1, 0), (2, 1.0), (3, 2.0)]
    assert len({delivery.first_attempt_at for delivery, _ in scheduler.scheduled}) == 1
    assert len(receiver.received) == 3
    assert {got.headers["webhook-id"] for got in receiver.received} == {f"job_{job.image_id}_succeeded"}
    assert json.loads(receiver.received[-1].body) == job_payload(job)
    recorded = jobs.get(job.image_id)
    assert recorded is not None
    assert (recorded.webhook_attempts, recorded.webhook_status) == (3, "HTTP 204")
    assert recorded.webhook_next_attempt_at is None


def test_a_pending_retry_is_on_the_job_record_and_in_the_index_until_it_is_made(jobs: DynamoDBJobStore) -> None:
    scheduler = ListScheduler()
    with running_receiver([500]) as receiver:
        hook = notifier(receiver, jobs, scheduler)
        job = ended_job(jobs, receiver.url)
        before = time.time()
        hook(job)
        hook.deliver(scheduler.scheduled[0][0])
        pending = jobs.get(job.image_id)
        assert pending is not None and pending.webhook_next_attempt_at is not None
        assert before + 1 <= pending.webhook_next_attempt_at <= time.time() + 1
        assert (pending.webhook_attempts, pending.webhook_status) == (1, "HTTP 500")
        assert [found.image_id for found in jobs.pending_deliveries()] == [job.image_id]

        hook.deliver(scheduler.scheduled[1][0])

    assert jobs.pending_deliveries() == []


def test_a_duplicate_attempt_is_dropped_before_it_sends_and_never_counted_twice(jobs: DynamoDBJobStore) -> None:
    """SQS delivers at least once: a second copy of an attempt the job already counts changes nothing."""
    scheduler = ListScheduler()
    with running_receiver([500]) as receiver:
        hook = notifier(receiver, jobs, scheduler)
        job = ended_job(jobs, receiver.url)
        hook(job)
        first = scheduler.scheduled[0][0]
        hook.deliver(first)
        hook.deliver(first)

    assert len(receiver.received) == 1
    assert len(scheduler.scheduled) == 2  # the first attempt and one retry, not two
    # Two copies that raced past that check: the second's count is refused, and it schedules nothing.
    assert not jobs.record_delivery(
        job.image_id, attempts=1, status="HTTP 204", first_attempt_at=first.first_attempt_at, next_attempt_at=None
    )
    recorded = jobs.get(job.image_id)
    assert recorded is not None and (recorded.webhook_attempts, recorded.webhook_status) == (1, "HTTP 500")


def test_delivery_gives_up_when_the_hour_is_spent_and_records_it(jobs: DynamoDBJobStore) -> None:
    scheduler = ListScheduler()
    ticks = iter(range(0, 1000, 1))
    with running_receiver([500] * 10) as receiver:
        hook = notifier(receiver, jobs, scheduler, give_up_after_seconds=5.5, clock=lambda: float(next(ticks)))
        job = ended_job(jobs, receiver.url)
        hook(job)
        scheduler.run_all(hook.deliver)

    recorded = jobs.get(job.image_id)
    assert recorded is not None
    assert recorded.webhook_status == "HTTP 500; gave up"
    assert recorded.webhook_attempts == len(receiver.received) == 3
    assert recorded.webhook_next_attempt_at is None


def test_a_restart_schedules_the_pending_retries_again_when_they_are_due(jobs: DynamoDBJobStore) -> None:
    scheduler = ListScheduler()
    with running_receiver([500, 500]) as receiver:
        hook = notifier(receiver, jobs, scheduler)
        job = ended_job(jobs, receiver.url)
        hook(job)
        scheduler.run_all(lambda delivery: hook.deliver(delivery) if delivery.attempt < 3 else None)
        # The process stops here; the next one finds the third attempt on the job record.
        after_restart = ListScheduler()
        now = time.time()
        assert reschedule_pending_deliveries(jobs, after_restart, clock=lambda: now) == 1
        hook_after = notifier(receiver, jobs, after_restart)
        after_restart.run_all(hook_after.deliver)

    [(delivery, delay), *_] = after_restart.scheduled
    assert delivery.attempt == 3
    assert delivery.first_attempt_at == pytest.approx(scheduler.scheduled[0][0].first_attempt_at, abs=0.001)
    assert 0 < delay <= 2.0
    recorded = jobs.get(job.image_id)
    assert recorded is not None and (recorded.webhook_attempts, recorded.webhook_status) == (3, "HTTP 204")


@pytest.fixture
def sqs(aws_endpoint: str) -> Any:
    return boto3.client("sqs", endpoint_url=aws_endpoint, region_name="us-east-1")


@pytest.fixture
def queue_url(sqs: Any) -> str:
    url: str = sqs.create_queue(QueueName=f"test-webhook-retries-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    return url


def test_a_first_attempt_lost_with_its_process_is_made_after_the_restart(jobs: DynamoDBJobStore) -> None:
    """The job ended (its record says so) but the process died before the first attempt: the next process
    finds it owed in the index and makes it at once. A job still running with a callback is not touched."""
    with running_receiver([204]) as receiver:
        job = ended_job(jobs, receiver.url)  # this store has no hooks: no attempt was ever scheduled
        running = Job(uuid.uuid4().hex, "ABC-123", "pending", time.time(), callback_url=receiver.url)
        jobs.create(running)
        after_restart = ListScheduler()
        now = time.time()
        assert reschedule_pending_deliveries(jobs, after_restart, clock=lambda: now) == 1
        after_restart.run_all(notifier(receiver, jobs, after_restart).deliver)

    [(delivery, delay)] = after_restart.scheduled
    assert (delivery.image_id, delivery.attempt, delay) == (job.image_id, 1, 0)
    assert len(receiver.received) == 1
    recorded = jobs.get(job.image_id)
    assert recorded is not None and (recorded.webhook_attempts, recorded.webhook_status) == (1, "HTTP 204")
    assert [found.image_id for found in jobs.pending_deliveries()] == [running.image_id]


def name_of(queue_url: str) -> str:
    """The service is given the queue's name (Terraform knows it before the queue exists) and looks its URL up."""
    return queue_url.rsplit("/", 1)[-1]


def test_the_retry_queue_makes_a_due_delivery_now_and_queues_a_later_one_with_its_delay(
    sqs: Any, queue_url: str
) -> None:
    made: list[Delivery] = []
    queue = RetryQueue(lambda: sqs, name_of(queue_url), made.append)
    now = time.time()
    first = Delivery("a" * 32, 1, now, now, "ABC-123")
    assert queue.schedule(first, 0)
    assert made == [first]

    later = Delivery("a" * 32, 2, now, now + 1, "ABC-123")
    queue.schedule(later, 1.0)
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    while not messages and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", [])
    assert [Delivery.from_message(message["Body"]) for message in messages] == [later]


def test_a_message_out_before_its_time_goes_back_for_the_rest_of_its_wait(sqs: Any, queue_url: str) -> None:
    """SQS delays a message 15 minutes at most: a retry due later is put back until it is due."""
    made: list[Delivery] = []
    now = 10_000.0
    queue = RetryQueue(lambda: sqs, name_of(queue_url), made.append, clock=lambda: now)
    waiting = Delivery("b" * 32, 9, now - 600, now + 2000)
    queue.receive(waiting.to_message())
    assert made == []
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert attributes["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"

    queue.receive(Delivery("b" * 32, 9, now - 600, now + 0.5).to_message())
    assert [delivery.attempt for delivery in made] == [9]


def test_an_sqs_event_reports_only_the_messages_that_failed(sqs: Any, queue_url: str) -> None:
    def make(delivery: Delivery) -> None:
        if delivery.image_id == "f" * 32:
            raise RuntimeError("DynamoDB is down")

    queue = RetryQueue(lambda: sqs, name_of(queue_url), make)
    now = time.time()
    records = [
        {
            "messageId": f"m{index}",
            "receiptHandle": "r",
            "body": body,
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:retries",
            "awsRegion": "us-east-1",
        }
        for index, body in enumerate(
            [Delivery("e" * 32, 2, now, now).to_message(), Delivery("f" * 32, 2, now, now).to_message(), "{not json"]
        )
    ]
    answer = receive_batch(queue, {"Records": records}, None)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
