"""Sliding-window rate limiter whose state lives in DynamoDB, one item per client key.

Each item holds the acceptance times (ms) of the requests inside the window and a version.
A decision is one consistent read plus, when admitting, one write conditioned on the version
it read: two callers racing for the last slot cannot both win, in one process or across many.
"""

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from .errors import DependencyUnavailable
from .observability import SERVICE_NAME

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = Logger(service=SERVICE_NAME, child=True)


@dataclass(frozen=True)
class RateLimitDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_after_seconds: int


class RateLimiter(Protocol):
    def acquire(self, key: str) -> RateLimitDecision: ...


class DynamoDBRateLimiter:
    def __init__(
        self,
        client: "DynamoDBClient",
        table_name: str,
        *,
        limit: int,
        window_seconds: int,
        clock: Callable[[], float] = time.time,
        max_attempts: int = 25,
    ) -> None:
        self._client = client
        self._table = table_name
        self._limit = limit
        self._window_ms = window_seconds * 1000
        self._clock = clock
        self._max_attempts = max_attempts

    def acquire(self, key: str) -> RateLimitDecision:
        try:
            for attempt in range(self._max_attempts):
                decision = self._try_acquire(key)
                if decision is not None:
                    return decision
                time.sleep(random.uniform(0, 0.005 * (attempt + 1)))  # noqa: S311 - jitter, not security
        except (BotoCoreError, ClientError) as exc:
            logger.error("rate limit store unavailable", extra={"rate_limit_key": key, "reason": str(exc)})
            raise DependencyUnavailable("Rate limiting is temporarily unavailable; retry shortly.") from exc
        logger.error("rate limit contention did not settle", extra={"rate_limit_key": key})
        raise DependencyUnavailable("Rate limiting is temporarily unavailable; retry shortly.")

    def _try_acquire(self, key: str) -> RateLimitDecision | None:
        now_ms = int(self._clock() * 1000)
        item = self._client.get_item(TableName=self._table, Key={"ip_address": {"S": key}}, ConsistentRead=True).get(
            "Item"
        )
        version = int(item["version"]["N"]) if item else 0
        stored = sorted(int(entry["N"]) for entry in item["accepted_at"]["L"]) if item else []
        live = [stamp for stamp in stored if stamp > now_ms - self._window_ms]
        if len(live) >= self._limit:
            oldest_blocking = live[len(live) - self._limit]
            return self._decision(False, 0, oldest_blocking, now_ms)
        accepted = [*live, now_ms]
        item_out: dict[str, Any] = {
            "ip_address": {"S": key},
            "accepted_at": {"L": [{"N": str(stamp)} for stamp in accepted]},
            "version": {"N": str(version + 1)},
            "expires_at": {"N": str(math.ceil((now_ms + self._window_ms) / 1000))},
        }
        try:
            if item is None:
                self._client.put_item(
                    TableName=self._table, Item=item_out, ConditionExpression="attribute_not_exists(ip_address)"
                )
            else:
                self._client.put_item(
                    TableName=self._table,
                    Item=item_out,
                    ConditionExpression="version = :read",
                    ExpressionAttributeValues={":read": {"N": str(version)}},
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise
        return self._decision(True, self._limit - len(accepted), accepted[0], now_ms)

    def _decision(self, allowed: bool, remaining: int, oldest_ms: int, now_ms: int) -> RateLimitDecision:
        reset_ms = oldest_ms + self._window_ms - now_ms
        return RateLimitDecision(
            allowed=allowed,
            limit=self._limit,
            remaining=remaining,
            reset_after_seconds=max(1, math.ceil(reset_ms / 1000)),
        )
