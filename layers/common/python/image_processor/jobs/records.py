"""Smart-crop job records in DynamoDB: pending -> processing -> succeeded | failed.

Every transition is one conditional write from the states it may leave, so a finished job is final:
a worker that answers after the deadline cannot turn a `failed` job into `succeeded`, and a timeout
cannot overwrite a success. The write that is refused says so (False / None) instead of raising.
"""

import json
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from ..aws.dynamo import marshal as _marshal
from ..aws.dynamo import unmarshal as _unmarshal
from ..aws.errors import condition_failed, translate
from ..models import CropBox, JobStatus
from ..observability import SERVICE_NAME
from ..storage import keys as storage

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

TERMINAL_STATUSES: frozenset[JobStatus] = frozenset({"succeeded", "failed"})
_UNFINISHED = "#status IN (:pending, :processing)"
_REASON_MAX_CHARS = 500
TIMED_OUT = "timed out before it finished"
DELETED = "deleted"
# Set only while a webhook retry is pending: the key of the sparse index that lists those (a restart
# reschedules them; tools/local_tables.py and terraform/dynamodb.tf define it).
PENDING_WEBHOOK_ATTRIBUTE = "webhook_next_attempt_at"
PENDING_WEBHOOKS_INDEX = "pending_webhooks"
_UNAVAILABLE = "The job store is temporarily unavailable; retry shortly."
logger = Logger(service=SERVICE_NAME, child=True)


@dataclass(frozen=True)
class Job:
    image_id: str
    product_id: str
    status: JobStatus
    created_at: float
    attempts: int = 0
    error: str | None = None
    crop_box: CropBox | None = None
    # True: the locator found an object; False: it fell back to a centred box; None: not cropped yet.
    object_found: bool | None = None
    # The process that started the latest attempt (see worker_identity); lets a restart release its claim.
    owner: str | None = None
    # The stored JPEG's size, once succeeded.
    size_bytes: int | None = None
    # Where to POST the job when it ends (an allow-listed URL), and how that delivery went.
    callback_url: str | None = None
    # The check profile the request named, and the report of the stored result (JSON), once succeeded.
    checks_profile: str | None = None
    checks: dict[str, Any] | None = None
    webhook_attempts: int = 0
    webhook_status: str | None = None
    # Wall-clock times of the webhook's first attempt and, while a retry is pending, of the next one.
    webhook_first_attempt_at: float | None = None
    webhook_next_attempt_at: float | None = None
    # Presets whose renditions the worker makes before the job succeeds.
    renditions: tuple[str, ...] = ()

    @property
    def result_key(self) -> str:
        return storage.result_key(self.product_id, self.image_id)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class JobStore(Protocol):
    def create(self, job: Job) -> None: ...
    def get(self, image_id: str) -> Job | None: ...
    def start_attempt(self, image_id: str, *, owner: str) -> Job | None: ...
    def succeed(
        self,
        image_id: str,
        *,
        crop_box: CropBox,
        object_found: bool,
        size_bytes: int | None = None,
        checks: dict[str, Any] | None = None,
    ) -> bool: ...
    def fail(self, image_id: str, reason: str) -> bool: ...
    def delete(self, image_id: str) -> None: ...


JobEndedHook = Callable[[Job], None]


class DynamoDBJobStore:
    def __init__(
        self,
        client: "DynamoDBClient",
        table_name: str,
        *,
        ttl_seconds: int,
        deadline_seconds: int | None = None,
        clock: Callable[[], float] = time.time,
        on_end: Sequence[JobEndedHook] = (),
    ) -> None:
        self._on_end = on_end  # read at each end: hooks may be added once the store exists
        self._client = client
        self._table = table_name
        self._ttl = ttl_seconds
        self._deadline = deadline_seconds
        self._clock = clock

    def create(self, job: Job) -> None:
        now = self._clock()
        item = _marshal(
            {
                "image_id": job.image_id,
                "product_id": job.product_id,
                "status": job.status,
                "created_at": _number(job.created_at),
                "updated_at": _number(now),
                "attempts": job.attempts,
                "expires_at": int(now) + self._ttl,
                **({"renditions": list(job.renditions)} if job.renditions else {}),
            }
            # A job with a callback is in the pending-webhooks index from the start: if the process dies between
            # the job's end and its first attempt, the next one finds that attempt owed (no write of its own).
            | (
                {"callback_url": job.callback_url, PENDING_WEBHOOK_ATTRIBUTE: _number(job.created_at)}
                if job.callback_url
                else {}
            )
            | ({"checks_profile": job.checks_profile} if job.checks_profile else {})
        )
        taken: ClientError | None = None
        with self._translate("PutItem"):
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(image_id)",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                if not condition_failed(exc):
                    raise
                taken = exc
        # A retried write whose first attempt landed (e.g. after a read timeout) finds its own item; another
        # job under the same id is a bug, not an outage.
        if taken is not None:
            existing = _unmarshal(taken.response.get("Item") or {})  # type: ignore[arg-type]
            if existing.get("created_at") != _number(job.created_at):
                raise taken

    def get(self, image_id: str) -> Job | None:
        with self._translate("GetItem"):
            item = self._client.get_item(TableName=self._table, Key=self._key(image_id), ConsistentRead=True).get(
                "Item"
            )
        return _job_from_item(item) if item else None

    def start_attempt(self, image_id: str, *, owner: str) -> Job | None:
        """pending|processing -> processing, counting the attempt; None if the job is finished or missing."""
        attributes = self._transition(
            image_id,
            "SET #status = :processing, updated_at = :now, #owner = :owner ADD attempts :one",
            {":now": _number(self._clock()), ":owner": owner, ":one": 1},
            names={"#owner": "owner"},
        )
        return _job_from_item(attributes) if attributes is not None else None

    def succeed(
        self,
        image_id: str,
        *,
        crop_box: CropBox,
        object_found: bool,
        size_bytes: int | None = None,
        checks: dict[str, Any] | None = None,
    ) -> bool:
        """pending|processing -> succeeded, unless the job has outlived its deadline: False if refused."""
        now = self._clock()
        values: dict[str, Any] = {
            ":succeeded": "succeeded",
            ":now": _number(now),
            ":box": crop_box.model_dump(),
            ":found": object_found,
            ":size": size_bytes,
            # JSON: DynamoDB takes no floats, and the report is only ever read whole.
            ":checks": json.dumps(checks) if checks is not None else None,
        }
        condition = None
        if self._deadline is not None:
            condition = "created_at >= :oldest"
            values[":oldest"] = _number(now - self._deadline)
        attributes = self._transition(
            image_id,
            "SET #status = :succeeded, updated_at = :now, crop_box = :box, object_found = :found, size_bytes = :size,"
            " checks_json = :checks"
            " REMOVE #error",
            values,
            extra_condition=condition,
        )
        return self._ended(attributes)

    def fail(self, image_id: str, reason: str) -> bool:
        """pending|processing -> failed with the reason: False if the job had already finished."""
        attributes = self._transition(
            image_id,
            "SET #status = :failed, updated_at = :now, #error = :error",
            {":failed": "failed", ":now": _number(self._clock()), ":error": reason[:_REASON_MAX_CHARS]},
        )
        return self._ended(attributes)

    def record_delivery(
        self, image_id: str, *, attempts: int, status: str, first_attempt_at: float, next_attempt_at: float | None
    ) -> bool:
        """The webhook's attempts so far, how the latest went and when the next is due (None: no retry pending).

        Any state (it is sent once the job ended). False, writing nothing, when the job already counts this
        attempt (a duplicate) or is gone."""
        values: dict[str, Any] = {
            ":attempts": attempts,
            ":status": status[:_REASON_MAX_CHARS],
            ":first": _number(first_attempt_at),
        }
        update = "SET webhook_attempts = :attempts, webhook_status = :status, webhook_first_attempt_at = :first"
        if next_attempt_at is None:
            update += f" REMOVE {PENDING_WEBHOOK_ATTRIBUTE}"
        else:
            update += f", {PENDING_WEBHOOK_ATTRIBUTE} = :next"
            values[":next"] = _number(next_attempt_at)
        return self._update_delivery(
            image_id,
            update,
            values,
            "attribute_exists(image_id) AND (attribute_not_exists(webhook_attempts) OR webhook_attempts < :attempts)",
        )

    def abandon_delivery(self, image_id: str, *, status: str) -> None:
        """No retry after all (it could not be scheduled): the last status says so."""
        self._update_delivery(
            image_id,
            f"SET webhook_status = :status REMOVE {PENDING_WEBHOOK_ATTRIBUTE}",
            {":status": status[:_REASON_MAX_CHARS]},
            "attribute_exists(image_id)",
        )

    def pending_deliveries(self) -> list[Job]:
        """The jobs whose webhook waits for a retry, read from the sparse index that holds only those."""
        jobs: list[Job] = []
        arguments: dict[str, Any] = {"TableName": self._table, "IndexName": PENDING_WEBHOOKS_INDEX}
        with self._translate("Scan"):
            while True:
                page = self._client.scan(**arguments)
                jobs += [_job_from_item(item) for item in page.get("Items", [])]
                if "LastEvaluatedKey" not in page:
                    return jobs
                arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _update_delivery(self, image_id: str, update: str, values: Mapping[str, Any], condition: str) -> bool:
        with self._translate("UpdateItem"):
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=self._key(image_id),
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeValues=_marshal(values),
                )
            except ClientError as exc:
                if not condition_failed(exc):
                    raise
                return False
        return True

    def delete(self, image_id: str) -> None:
        with self._translate("DeleteItem"):
            self._client.delete_item(TableName=self._table, Key=self._key(image_id))

    def _ended(self, attributes: "Mapping[str, Any] | None") -> bool:
        """Tell the hooks (catalog, webhook) about a job this call finished; a hook's failure is only logged,
        the transition has happened."""
        if attributes is None:
            return False
        job = _job_from_item(attributes)
        for hook in self._on_end:
            try:
                hook(job)
            except Exception:  # one hook's outage must not undo or hide the job's end
                logger.exception("job-ended hook failed", extra={"image_id": job.image_id})
        return True

    def _transition(
        self,
        image_id: str,
        update: str,
        values: Mapping[str, Any],
        *,
        names: Mapping[str, str] | None = None,
        extra_condition: str | None = None,
    ) -> "dict[str, AttributeValueTypeDef] | None":
        """One conditional update from an unfinished state; the new item, or None when the condition refuses."""
        condition = f"attribute_exists(image_id) AND {_UNFINISHED}"
        if extra_condition:
            condition += f" AND {extra_condition}"
        with self._translate("UpdateItem"):
            try:
                response = self._client.update_item(
                    TableName=self._table,
                    Key=self._key(image_id),
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=_names_used(
                        update, {"#status": "status", "#error": "error", **(names or {})}
                    ),
                    ExpressionAttributeValues=_marshal({":pending": "pending", ":processing": "processing", **values}),
                    ReturnValues="ALL_NEW",
                )
            except ClientError as exc:
                if condition_failed(exc):
                    return None
                raise
        return response["Attributes"]

    @staticmethod
    def _key(image_id: str) -> "dict[str, AttributeValueTypeDef]":
        return _marshal({"image_id": image_id})

    def _translate(self, operation: str) -> AbstractContextManager[None]:
        return translate(operation, self._table, message=_UNAVAILABLE)


def _names_used(update: str, names: Mapping[str, str]) -> dict[str, str]:
    """DynamoDB refuses a name placeholder the expressions do not use; #status is in every condition."""
    return {
        placeholder: name for placeholder, name in names.items() if placeholder == "#status" or placeholder in update
    }


def _number(value: float) -> Decimal:
    """Seconds with millisecond precision, as DynamoDB stores them exactly."""
    return Decimal(f"{value:.3f}")


def _job_from_item(item: "Mapping[str, Any]") -> Job:
    values = _unmarshal(item)
    box = values.get("crop_box")
    return Job(
        image_id=values["image_id"],
        product_id=values["product_id"],
        status=values["status"],
        created_at=float(values["created_at"]),
        attempts=int(values.get("attempts", 0)),
        error=values.get("error"),
        crop_box=CropBox(**{key: int(value) for key, value in box.items()}) if box else None,
        object_found=values.get("object_found"),
        owner=values.get("owner"),
        size_bytes=int(values["size_bytes"]) if values.get("size_bytes") is not None else None,
        callback_url=values.get("callback_url"),
        checks_profile=values.get("checks_profile"),
        checks=json.loads(values["checks_json"]) if values.get("checks_json") else None,
        webhook_attempts=int(values.get("webhook_attempts", 0)),
        webhook_status=values.get("webhook_status"),
        webhook_first_attempt_at=_optional_float(values.get("webhook_first_attempt_at")),
        webhook_next_attempt_at=_optional_float(values.get(PENDING_WEBHOOK_ATTRIBUTE)),
        renditions=tuple(values.get("renditions", ())),
    )


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
