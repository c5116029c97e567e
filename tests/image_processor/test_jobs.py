"""The DynamoDB job store: a job moves pending -> processing -> succeeded | failed, and only forward."""

from typing import Any

import pytest

from image_processor.aws import clients as aws
from image_processor.errors import DependencyUnavailable
from image_processor.ids import new_image_id
from image_processor.jobs.records import DynamoDBJobStore, Job
from image_processor.models import CropBox
from image_processor.settings import Settings
from tests.support.services import ManualClock

TTL = 7 * 24 * 3600
BOX = CropBox(x=1, y=2, width=30, height=40)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def jobs(settings: Settings, clock: ManualClock) -> DynamoDBJobStore:
    return DynamoDBJobStore(aws.client("dynamodb", settings), settings.jobs_table, ttl_seconds=TTL, clock=clock)


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


def test_attempts_are_counted_and_the_owner_recorded(jobs: DynamoDBJobStore, clock: ManualClock) -> None:
    job = new_job(clock)
    jobs.create(job)
    first = jobs.start_attempt(job.image_id, owner="host/boot/1/100")
    assert first is not None and (first.attempts, first.owner) == (1, "host/boot/1/100")
    started = jobs.start_attempt(job.image_id, owner="host/boot/2/200")
    assert started is not None and (started.status, started.attempts, started.owner) == (
        "processing",
        2,
        "host/boot/2/200",
    )


def test_success_and_failure_are_recorded(jobs: DynamoDBJobStore, clock: ManualClock) -> None:
    good, bad = new_job(clock), new_job(clock)
    jobs.create(good)
    jobs.create(bad)
    assert jobs.succeed(good.image_id, crop_box=BOX, object_found=True)
    assert jobs.fail(bad.image_id, "the AI service failed")
    assert jobs.get(good.image_id) == Job(
        **{**good.__dict__, "status": "succeeded", "crop_box": BOX, "object_found": True}
    )
    failed = jobs.get(bad.image_id)
    assert failed is not None and (failed.status, failed.error) == ("failed", "the AI service failed")


@pytest.mark.parametrize("first", ["succeeded", "failed"])
def test_a_finished_job_is_final(jobs: DynamoDBJobStore, clock: ManualClock, first: str) -> None:
    job = new_job(clock)
    jobs.create(job)
    if first == "succeeded":
        assert jobs.succeed(job.image_id, crop_box=BOX, object_found=False)
    else:
        assert jobs.fail(job.image_id, "timed out")
    finished = jobs.get(job.image_id)

    assert jobs.start_attempt(job.image_id, owner="late") is None
    assert not jobs.succeed(job.image_id, crop_box=CropBox(x=1, y=1, width=1, height=1), object_found=True)
    assert not jobs.fail(job.image_id, "another reason")
    assert jobs.get(job.image_id) == finished


def test_a_job_past_its_deadline_cannot_succeed(settings: Settings, clock: ManualClock) -> None:
    jobs = DynamoDBJobStore(
        aws.client("dynamodb", settings), settings.jobs_table, ttl_seconds=TTL, deadline_seconds=60, clock=clock
    )
    on_time, late = new_job(clock), new_job(clock)
    jobs.create(on_time)
    jobs.create(late)
    clock.advance(60)
    assert jobs.succeed(on_time.image_id, crop_box=BOX, object_found=True)
    clock.advance(0.01)
    assert not jobs.succeed(late.image_id, crop_box=BOX, object_found=True)
    assert jobs.fail(late.image_id, "timed out")


def test_transitions_of_a_missing_job_are_refused(jobs: DynamoDBJobStore) -> None:
    image_id = new_image_id()
    assert jobs.start_attempt(image_id, owner="x") is None
    assert not jobs.fail(image_id, "x")
    assert jobs.get(image_id) is None


def test_records_expire_through_ttl(jobs: DynamoDBJobStore, clock: ManualClock, settings: Settings) -> None:
    job = new_job(clock)
    jobs.create(job)
    client: Any = aws.client("dynamodb", settings)
    item = client.get_item(TableName=settings.jobs_table, Key={"image_id": {"S": job.image_id}})["Item"]
    assert int(item["expires_at"]["N"]) == int(clock()) + TTL


def test_an_unreachable_store_is_reported_as_unavailable(settings: Settings, clock: ManualClock) -> None:
    jobs = DynamoDBJobStore(aws.client("dynamodb", settings), "no-such-table", ttl_seconds=TTL, clock=clock)
    with pytest.raises(DependencyUnavailable):
        jobs.get(new_image_id())
