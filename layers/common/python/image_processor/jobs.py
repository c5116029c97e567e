"""Smart-crop job records in DynamoDB: pending -> processing -> succeeded | failed."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from botocore.exceptions import BotoCoreError, ClientError

from . import storage
from .errors import DependencyUnavailable
from .models import JobStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TERMINAL_STATUSES: frozenset[JobStatus] = frozenset({"succeeded", "failed"})


@dataclass(frozen=True)
class Job:
    image_id: str
    product_id: str
    status: JobStatus
    created_at: float
    attempts: int = 0
    error: str | None = None

    @property
    def result_key(self) -> str:
        return storage.result_key(self.product_id, self.image_id)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class JobStore(Protocol):
    def create(self, job: Job) -> None: ...
    def get(self, image_id: str) -> Job | None: ...
    def start_attempt(self, image_id: str) -> Job: ...
    def succeed(self, image_id: str) -> None: ...
    def fail(self, image_id: str, reason: str) -> None: ...
    def fail_if_unfinished(self, image_id: str, reason: str) -> None: ...


class DynamoDBJobStore:
    def __init__(
        self, client: "DynamoDBClient", table_name: str, *, ttl_seconds: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._client = client
        self._table = table_name
        self._ttl = ttl_seconds
        self._clock = clock

    def create(self, job: Job) -> None:
        now = self._clock()
        try:
            self._put_new(job, now)
        except ClientError as exc:
            # A retried write whose first attempt landed (e.g. after a read timeout) finds its own item.
            existing = cast(dict[str, Any], exc.response.get("Item") or {})
            if existing.get("created_at", {}).get("N") != _number(job.created_at):
                raise

    def _put_new(self, job: Job, now: float) -> None:
        self._call(
            "put_item",
            TableName=self._table,
            Item={
                "image_id": {"S": job.image_id},
                "product_id": {"S": job.product_id},
                "status": {"S": job.status},
                "created_at": {"N": _number(job.created_at)},
                "updated_at": {"N": _number(now)},
                "attempts": {"N": str(job.attempts)},
                "expires_at": {"N": str(int(now) + self._ttl)},
            },
            ConditionExpression="attribute_not_exists(image_id)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )

    def get(self, image_id: str) -> Job | None:
        item = self._call(
            "get_item", TableName=self._table, Key={"image_id": {"S": image_id}}, ConsistentRead=True
        ).get("Item")
        return _job_from_item(item) if item else None

    def start_attempt(self, image_id: str) -> Job:
        response = self._call(
            "update_item",
            TableName=self._table,
            Key={"image_id": {"S": image_id}},
            UpdateExpression="SET #status = :processing, updated_at = :now ADD attempts :one",
            ConditionExpression="attribute_exists(image_id)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":processing": {"S": "processing"},
                ":now": {"N": _number(self._clock())},
                ":one": {"N": "1"},
            },
            ReturnValues="ALL_NEW",
        )
        return _job_from_item(response["Attributes"])

    def succeed(self, image_id: str) -> None:
        self._finish(image_id, "succeeded", None, only_if_unfinished=False)

    def fail(self, image_id: str, reason: str) -> None:
        self._finish(image_id, "failed", reason, only_if_unfinished=False)

    def fail_if_unfinished(self, image_id: str, reason: str) -> None:
        self._finish(image_id, "failed", reason, only_if_unfinished=True)

    def _finish(self, image_id: str, status: JobStatus, reason: str | None, *, only_if_unfinished: bool) -> None:
        values: dict[str, Any] = {":status": {"S": status}, ":now": {"N": _number(self._clock())}}
        update = "SET #status = :status, updated_at = :now"
        update += ", #error = :error" if reason else " REMOVE #error"
        if reason:
            values[":error"] = {"S": reason[:500]}
        condition = "attribute_exists(image_id)"
        if only_if_unfinished:
            condition += " AND NOT #status IN (:succeeded, :failed)"
            values |= {":succeeded": {"S": "succeeded"}, ":failed": {"S": "failed"}}
        try:
            self._call(
                "update_item",
                TableName=self._table,
                Key={"image_id": {"S": image_id}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status", "#error": "error"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, operation)(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise
            raise DependencyUnavailable("The job store is temporarily unavailable; retry shortly.") from exc
        except BotoCoreError as exc:
            raise DependencyUnavailable("The job store is temporarily unavailable; retry shortly.") from exc


def _number(value: float) -> str:
    return f"{value:.3f}"


def _job_from_item(item: dict[str, Any]) -> Job:
    return Job(
        image_id=item["image_id"]["S"],
        product_id=item["product_id"]["S"],
        status=item["status"]["S"],
        created_at=float(item["created_at"]["N"]),
        attempts=int(item.get("attempts", {}).get("N", "0")),
        error=item.get("error", {}).get("S"),
    )
