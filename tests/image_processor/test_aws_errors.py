"""One translation of botocore's failures into the service's, over the wire against the emulator."""

from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from image_processor.aws import clients as aws
from image_processor.aws.errors import condition_failed, error_code, translate
from image_processor.errors import DependencyUnavailable
from image_processor.jobs.records import DynamoDBJobStore
from image_processor.settings import Settings
from tools.processes import free_port


def failures_logged(caplog: pytest.LogCaptureFixture) -> list[Any]:
    return [record for record in caplog.records if record.getMessage() == "AWS call failed"]


def test_an_aws_error_becomes_dependency_unavailable_with_its_cause_logged_once(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    client = aws.client("dynamodb", settings)
    with (
        pytest.raises(DependencyUnavailable) as caught,
        translate("GetItem", "no-such-table", message="The store is down; retry shortly."),
    ):
        client.get_item(TableName="no-such-table", Key={"id": {"S": "x"}})

    assert caught.value.message == "The store is down; retry shortly."
    assert isinstance(caught.value.__cause__, ClientError)
    (logged,) = failures_logged(caplog)
    assert (logged.operation, logged.resource, logged.error_code) == (
        "GetItem",
        "no-such-table",
        "ResourceNotFoundException",
    )
    assert "ResourceNotFoundException" in logged.reason


def test_an_endpoint_that_does_not_answer_is_translated_too(settings: Settings) -> None:
    unreachable = settings.model_copy(update={"aws_endpoint_url": f"http://127.0.0.1:{free_port()}"})
    client = aws.client("dynamodb", unreachable)
    with pytest.raises(DependencyUnavailable) as caught, translate("GetItem", "jobs"):
        client.get_item(TableName="jobs", Key={"id": {"S": "x"}})
    assert isinstance(caught.value.__cause__, BotoCoreError)


def test_other_errors_pass_through_untouched() -> None:
    with pytest.raises(KeyError), translate("GetItem", "jobs"):
        raise KeyError("a bug, not an outage")


def test_a_refused_condition_is_told_apart_from_other_client_errors(settings: Settings) -> None:
    client = aws.client("dynamodb", settings)
    client.put_item(TableName=settings.jobs_table, Item={"image_id": {"S": "taken"}})
    with pytest.raises(ClientError) as refused:
        client.put_item(
            TableName=settings.jobs_table,
            Item={"image_id": {"S": "taken"}},
            ConditionExpression="attribute_not_exists(image_id)",
        )
    with pytest.raises(ClientError) as missing:
        client.get_item(TableName="no-such-table", Key={"id": {"S": "x"}})

    assert condition_failed(refused.value) and not condition_failed(missing.value)
    assert error_code(missing.value) == "ResourceNotFoundException"
    assert error_code(KeyError("x")) == ""


def test_a_store_that_fails_logs_the_failure_once(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    jobs = DynamoDBJobStore(aws.client("dynamodb", settings), "no-such-table", ttl_seconds=60)
    with pytest.raises(DependencyUnavailable):
        jobs.get("0" * 32)
    assert len(failures_logged(caplog)) == 1
