"""functions/smart_crop_worker with a Lambda context, on the job the API function queued."""

import base64
import json
import time
from typing import Any

import boto3
import pytest
from standardwebhooks import Webhook

from functions.api.app import handler as api_handler
from functions.smart_crop_worker.app import handler as worker_handler
from image_processor.settings import Settings
from tests.functions.conftest import RecordedInvoke, _clear_caches, lambda_context, load_event
from tests.support import images
from tests.support.receiver import running_receiver
from tests.support.sqs import sqs_event


@pytest.fixture
def queued_event(lambda_settings: Settings, worker_invokes: list[RecordedInvoke]) -> dict[str, Any]:
    """The asynchronous event the API function sent for a smart-crop upload."""
    response = api_handler(load_event("smart_crop"), lambda_context(function_name="product-image-processor-api"))
    assert response["statusCode"] == 202, response
    [call] = worker_invokes
    event: dict[str, Any] = json.loads(call.payload)
    return event


def job_item(settings: Settings, image_id: str) -> dict[str, Any]:
    dynamodb = boto3.client("dynamodb", endpoint_url=settings.aws_endpoint_url, region_name="us-east-1")
    item: dict[str, Any] = dynamodb.get_item(TableName=settings.jobs_table, Key={"image_id": {"S": image_id}})["Item"]
    return item


def test_worker_processes_the_staged_job(lambda_settings: Settings, queued_event: dict[str, Any]) -> None:
    image_id = queued_event["image_id"]

    result = worker_handler(queued_event, lambda_context())

    assert result == {"image_id": image_id, "status": "succeeded"}
    item = job_item(lambda_settings, image_id)
    assert item["status"]["S"] == "succeeded"
    stored = lambda_settings.processed_images_dir / "ABC-123" / f"{image_id}.jpg"
    # The upload is a blue square on white; the mock AI crops to the square.
    assert images.close_to(images.pixel(stored.read_bytes(), 4, 4), images.BLUE)
    assert not any((lambda_settings.processed_images_dir / ".staging").iterdir())


def test_a_second_delivery_of_the_same_event_is_not_processed_again(
    lambda_settings: Settings, queued_event: dict[str, Any]
) -> None:
    image_id = queued_event["image_id"]
    first = worker_handler(queued_event, lambda_context())
    stored = lambda_settings.processed_images_dir / "ABC-123" / f"{image_id}.jpg"
    written = stored.stat().st_mtime_ns
    # Remove the job record: a worker that ran again would now report the job missing.
    dynamodb = boto3.client("dynamodb", endpoint_url=lambda_settings.aws_endpoint_url, region_name="us-east-1")
    dynamodb.delete_item(TableName=lambda_settings.jobs_table, Key={"image_id": {"S": image_id}})

    second = worker_handler(queued_event, lambda_context())

    assert second == first == {"image_id": image_id, "status": "succeeded"}
    assert stored.stat().st_mtime_ns == written
    records = dynamodb.scan(TableName=lambda_settings.idempotency_table)["Items"]
    assert [record["status"]["S"] for record in records] == ["COMPLETED"]
    assert int(records[0]["expiration"]["N"]) > 0


def test_on_lambda_a_failed_webhook_is_retried_through_the_sqs_queue(
    lambda_settings: Settings, queued_event: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DISPATCHER=lambda: the first attempt runs in the invocation that ended the job; the retry waits in the
    SQS queue (its 1 s as DelaySeconds), and the worker, given the queue's event, makes it."""
    secret = "whsec_" + base64.b64encode(b"lambda-webhook-secret-0123456789").decode()
    image_id = queued_event["image_id"]
    sqs = boto3.client("sqs", endpoint_url=lambda_settings.aws_endpoint_url, region_name="us-east-1")
    queue_name = f"webhook-retries-{image_id[:8]}"
    queue_url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    with running_receiver([503]) as receiver:
        monkeypatch.setenv("WEBHOOK_URL_PREFIXES", receiver.url)
        monkeypatch.setenv("WEBHOOK_SECRET", secret)
        monkeypatch.setenv("WEBHOOK_RETRY_QUEUE_NAME", queue_name)
        _clear_caches()
        dynamodb = boto3.client("dynamodb", endpoint_url=lambda_settings.aws_endpoint_url, region_name="us-east-1")
        dynamodb.update_item(
            TableName=lambda_settings.jobs_table,
            Key={"image_id": {"S": image_id}},
            UpdateExpression="SET callback_url = :url",
            ExpressionAttributeValues={":url": {"S": receiver.url}},
        )

        result = worker_handler(queued_event, lambda_context())
        assert result["status"] == "succeeded"
        assert len(receiver.received) == 1  # the retry was queued, not waited for
        assert job_item(lambda_settings, image_id)["webhook_status"]["S"] == "HTTP 503"

        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + 20
        while not messages and time.monotonic() < deadline:
            messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", [])
        assert len(messages) == 1, "no retry was queued"
        assert json.loads(messages[0]["Body"])["attempt"] == 2
        event = sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:webhook-retries")
        answer = worker_handler(event, lambda_context())
        # SQS delivers at least once: the same message again changes nothing.
        again = worker_handler(event, lambda_context())

    assert answer == again == {"batchItemFailures": []}
    assert len(receiver.received) == 2
    assert Webhook(secret).verify(receiver.received[-1].body, receiver.received[-1].headers)["status"] == "succeeded"
    item = job_item(lambda_settings, image_id)
    assert (item["webhook_attempts"]["N"], item["webhook_status"]["S"]) == ("2", "HTTP 204")
    assert "webhook_next_attempt_at" not in item
