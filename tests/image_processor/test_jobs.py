"""The DynamoDB job store: a job moves pending -> processing -> succeeded | failed, and only forward."""

from typing import Any

import pytest

from image_processor import aws
from image_processor.errors import DependencyUnavailable
from image_processor.ids import new_image_id
from image_processor.jobs import DynamoDBJobStore, Job
from image_processor.settings import Settings
from tests.support.services import ManualClock

TTL = 7 * 24 * 3600


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def jobs(settings: Settings, clock: ManualClock) -> DynamoDBJobStore:
    return DynamoDBJobStore(aws.dynamodb_client(settings), settings.jobs_table, ttl_seconds=TTL, clock=clock)


def new_job(clock: ManualClock) -> Job:
    return Job(image_id=new_image_id(), product_id="ABC-123", status="pending", created_at=clock())


def test_a_created_job_reads_back_pending(jobs: DynamoDBJobStore, clock: ManualClock) -> None:
    job = new_job(clock)
    jobs.create(job)
    assert jobs.get(job.image_id) == job
    assert job.result_key == f"ABC-123/{job.image_id}.jpg"


def test_an_unknown_job_is_none(jobs: DynamoDBJobStore) -> None:
    assert jobs.get(new_image_id()) is None


def test_a_job_id_is_never_reused(jobs: DynamoDBJobStore, clock: ManualClock) -> None:
    job = new_job(clock)
    jobs.create(job)
    clock.advance(1)
    with pytest.raises(Exception, match="ConditionalCheckFailed"):
        jobs.create(Job(**{**job.__dict__, "created_at": clock()}))


def test_a_retried_create_that_already_landed_is_harmless(jobs: DynamoDBJobStore, clock: ManualClock) -> None:
    job = new_job(clock)
    jobs.create(job)
    jobs.create(job)
    assert jobs.get(job.image_id) == job


def test_attempts_are_counted(jobs: DynamoDBJobStore, clock: ManualClock) -> None:
    job = new_job(clock)
    jobs.create(job)
    assert jobs.start_attempt(job.image_id).attempts == 1
    started = jobs.start_attempt(job.image_id)
    assert (started.status, started.attempts) == ("processing", 2)


def test_success_and_failure_are_recorded(jobs: DynamoDBJobStore, clock: ManualClock) -> None:
    good, bad = new_job(clock), new_job(clock)
    jobs.create(good)
    jobs.create(bad)
    jobs.succeed(good.image_id)
    jobs.fail(bad.image_id, "the AI service failed")
    assert jobs.get(good.image_id) == Job(**{**good.__dict__, "status": "succeeded"})
    failed = jobs.get(bad.image_id)
    assert failed is not None and (failed.status, failed.error) == ("failed", "the AI service failed")


def test_a_timeout_never_overwrites_a_finished_job(jobs: DynamoDBJobStore, clock: ManualClock) -> None:
    job = new_job(clock)
    jobs.create(job)
    jobs.succeed(job.image_id)
    jobs.fail_if_unfinished(job.image_id, "timed out")
    finished = jobs.get(job.image_id)
    assert finished is not None and finished.status == "succeeded" and finished.error is None


def test_records_expire_through_ttl(jobs: DynamoDBJobStore, clock: ManualClock, settings: Settings) -> None:
    job = new_job(clock)
    jobs.create(job)
    client: Any = aws.dynamodb_client(settings)
    item = client.get_item(TableName=settings.jobs_table, Key={"image_id": {"S": job.image_id}})["Item"]
    assert int(item["expires_at"]["N"]) == int(clock()) + TTL


def test_an_unreachable_store_is_reported_as_unavailable(settings: Settings, clock: ManualClock) -> None:
    jobs = DynamoDBJobStore(aws.dynamodb_client(settings), "no-such-table", ttl_seconds=TTL, clock=clock)
    with pytest.raises(DependencyUnavailable):
        jobs.get(new_image_id())
