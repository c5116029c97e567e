"""Answers to client requests sent with an `Idempotency-Key`, kept in DynamoDB so that a retry gets the first answer.

The records live in the Powertools idempotency table under their own prefix (the worker's records
are keyed by job). A record is claimed with a conditional put before the work starts, so of two
concurrent requests with one key only one runs; it holds the request's fingerprint, so the key
cannot be reused for a different request; and it expires by the table's TTL. A claim whose holder
died is taken over once its lease has run out.
"""

import hashlib
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools import Logger
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from ..errors import DependencyUnavailable
from ..observability import SERVICE_NAME

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = Logger(service=SERVICE_NAME, child=True)

_PREFIX = "api-request#"
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    body: bytes
    headers: Mapping[str, str]


@dataclass(frozen=True)
class KeyRecord:
    """What a key already holds: the first request's fingerprint, and its answer once it has one."""

    fingerprint: str
    answer: StoredAnswer | None


@dataclass(frozen=True)
class Claim:
    record_id: str
    token: str


ClaimResult = Claim | KeyRecord


class AnswerStore(Protocol):
    def lookup(self, scope: str, key: str) -> KeyRecord | None: ...

    def claim(self, scope: str, key: str, fingerprint: str) -> ClaimResult: ...

    def complete(self, claim: Claim, answer: StoredAnswer) -> None: ...

    def release(self, claim: Claim) -> None: ...


class DynamoDBAnswerStore:
    def __init__(
        self,
        client: "DynamoDBClient",
        table_name: str,
        *,
        ttl_seconds: int,
        lease_seconds: int = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._table = table_name
        self._ttl = ttl_seconds
        self._lease = lease_seconds
        self._clock = clock

    def lookup(self, scope: str, key: str) -> KeyRecord | None:
        """The record `key` holds for `scope`, if it is alive (an expired claim or answer is no record)."""
        try:
            item = self._client.get_item(
                TableName=self._table, Key={"id": {"S": _record_id(scope, key)}}, ConsistentRead=True
            ).get("Item")
        except (BotoCoreError, ClientError) as exc:
            raise _unavailable(exc) from exc
        return _record(item, self._clock()) if item else None

    def claim(self, scope: str, key: str, fingerprint: str) -> ClaimResult:
        """Take `key` for a request with `fingerprint`, or learn what the key already holds."""
        record_id = _record_id(scope, key)
        token = uuid.uuid4().hex
        now = self._clock()
        item = {
            "id": record_id,
            "status": "IN_PROGRESS",
            "fingerprint": fingerprint,
            "claim_token": token,
            "lease_expires_at": int((now + self._lease) * 1000),
            "expiration": int(now) + self._ttl,
        }
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_serialize(item),
                ConditionExpression=(
                    "attribute_not_exists(id) OR expiration < :now_s"
                    " OR (#status = :in_progress AND lease_expires_at < :now_ms)"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=_serialize(
                    {":now_s": int(now), ":now_ms": int(now * 1000), ":in_progress": "IN_PROGRESS"}
                ),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                # Read with the time the condition was given, the record is alive: the condition said so.
                existing = _record(exc.response.get("Item") or {}, now)  # type: ignore[arg-type]
                return existing or KeyRecord(fingerprint="", answer=None)
            raise _unavailable(exc) from exc
        except BotoCoreError as exc:
            raise _unavailable(exc) from exc
        return Claim(record_id=record_id, token=token)

    def complete(self, claim: Claim, answer: StoredAnswer) -> None:
        """Keep the answer for retries; only the claim's holder may, so a late finisher cannot overwrite."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": claim.record_id}},
                UpdateExpression="SET #status = :completed, answer_status = :status, answer_body = :body, "
                "answer_headers = :headers REMOVE lease_expires_at",
                ConditionExpression="claim_token = :token",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=_serialize(
                    {
                        ":completed": "COMPLETED",
                        ":status": answer.status,
                        ":body": Binary(answer.body),
                        ":headers": dict(answer.headers),
                        ":token": claim.token,
                    }
                ),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise _unavailable(exc) from exc
            logger.warning("idempotency claim was taken over before its answer was stored")
        except BotoCoreError as exc:
            raise _unavailable(exc) from exc

    def release(self, claim: Claim) -> None:
        """Forget the claim of a request that ended in an error, so that a retry runs it again."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={"id": {"S": claim.record_id}},
                ConditionExpression="claim_token = :token",
                ExpressionAttributeValues={":token": {"S": claim.token}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise _unavailable(exc) from exc
        except BotoCoreError as exc:
            raise _unavailable(exc) from exc


def _record(item: Mapping[str, Any], now: float) -> KeyRecord | None:
    if not item:
        return None
    record = {name: _deserializer.deserialize(value) for name, value in item.items()}
    if int(record.get("expiration", 0)) < int(now):
        return None
    if record.get("status") == "COMPLETED":
        answer = StoredAnswer(
            status=int(record["answer_status"]),
            body=bytes(record["answer_body"]),
            headers={str(name): str(value) for name, value in record.get("answer_headers", {}).items()},
        )
        return KeyRecord(fingerprint=str(record["fingerprint"]), answer=answer)
    if int(record.get("lease_expires_at", 0)) < int(now * 1000):
        return None
    return KeyRecord(fingerprint=str(record["fingerprint"]), answer=None)


def _record_id(scope: str, key: str) -> str:
    # Hashed: the key is the client's text and the scope may hold an API key's digest; neither is stored as sent.
    return _PREFIX + hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()


def _serialize(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in values.items()}


def _unavailable(exc: Exception) -> DependencyUnavailable:
    logger.error("idempotency store unavailable", extra={"reason": str(exc)})
    return DependencyUnavailable("Idempotency keys are temporarily unavailable; retry shortly.")
