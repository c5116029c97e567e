"""Sliding-window rate limiter whose state lives in DynamoDB, one item per client key.

Each item holds the acceptance times (ms) of at most `limit` recent requests and a version. A
decision is one conditional append ("fewer than `limit` times stored"), so callers racing for
the last slot cannot both win, in one process or across many, and a burst from one client costs
one call per request rather than a storm of retries. Only when expired times fill the item is a
second call made: a write of the pruned list, conditioned on the version read.

A request can also be decided in two steps, so that only valid requests are counted: `check`
reads the item (refusing a client already at its limit before its body is read), and
`acquire(key, checked)` then takes the slot with one conditional write once the request has been
validated; it uses what `check` read to prune, so both steps together cost two calls, and the
write's condition keeps the count exact when other requests took slots in between.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_random_exponential

from ..aws.dynamo import marshal, unmarshal
from ..aws.errors import condition_failed, translate
from ..errors import DependencyUnavailable
from ..observability import SERVICE_NAME

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = Logger(service=SERVICE_NAME, child=True)

_UNAVAILABLE = "Rate limiting is temporarily unavailable; retry shortly."


@dataclass(frozen=True)
class RateLimitDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_after_seconds: int


@dataclass(frozen=True)
class RateLimitCheck:
    """A read-only decision, and the item as it was read, for the `acquire` that may follow."""

    decision: RateLimitDecision
    stamps: tuple[int, ...] = ()
    version: int = 0


class RateLimiter(Protocol):
    def check(self, key: str) -> RateLimitCheck: ...

    def acquire(self, key: str, checked: RateLimitCheck | None = None) -> RateLimitDecision: ...


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
        key_prefix: str = "",
    ) -> None:
        self._client = client
        self._table = table_name
        self._prefix = key_prefix
        self._limit = limit
        self._window_ms = window_seconds * 1000
        self._clock = clock
        self._max_attempts = max_attempts

    def check(self, key: str) -> RateLimitCheck:
        """Whether `key` has room now, taking nothing: one consistent read."""
        key = self._prefix + key
        now_ms = int(self._clock() * 1000)
        with translate("GetItem", self._table, message=_UNAVAILABLE):
            item = unmarshal(
                self._client.get_item(TableName=self._table, Key=marshal({"ip_address": key}), ConsistentRead=True).get(
                    "Item", {}
                )
            )
        stamps = tuple(self._stamps(item))
        live = self._live(item, now_ms)
        if len(live) >= self._limit:
            decision = self._decision(False, 0, live[len(live) - self._limit], now_ms)
        else:
            decision = self._decision(True, self._limit - len(live), live[0] if live else now_ms, now_ms)
        return RateLimitCheck(decision=decision, stamps=stamps, version=int(item.get("version", 0)))

    def acquire(self, key: str, checked: RateLimitCheck | None = None) -> RateLimitDecision:
        """Take a slot for `key` if there is one. With the result of an earlier `check`, that is one write."""
        key = self._prefix + key
        with translate("UpdateItem", self._table, message=_UNAVAILABLE):
            if checked is not None:
                decision = self._acquire_checked(key, checked)
                if decision is not None:
                    return decision
            # None means another writer won the conditional write: decide again after a short random wait.
            contended = Retrying(
                retry=retry_if_result(lambda decision: decision is None),
                stop=stop_after_attempt(self._max_attempts),
                wait=wait_random_exponential(multiplier=0.005, max=0.1),
                retry_error_callback=lambda state: None,
            )
            decision = contended(self._try_acquire, key)
            if decision is not None:
                return decision
        logger.error("rate limit contention did not settle", extra={"rate_limit_key": key})
        raise DependencyUnavailable(_UNAVAILABLE)

    def _acquire_checked(self, key: str, checked: RateLimitCheck) -> RateLimitDecision | None:
        """When the item read by `check` was full of times (expired ones among them), write it pruned,
        conditioned on the version read; otherwise append. None: another writer came first, decide afresh."""
        if len(checked.stamps) < self._limit:
            return self._try_acquire(key)
        item = {"accepted_at": list(checked.stamps), "version": checked.version}
        return self._refuse_or_prune(key, item, int(self._clock() * 1000))

    def _try_acquire(self, key: str) -> RateLimitDecision | None:
        """Append this request's time if the item holds fewer than `limit` times: one call to admit or refuse.

        Times that have left the window still count in that condition, so it can only err towards
        refusing; when they are what fills the item, they are pruned by a write conditioned on the
        version read, and the decision is taken again if another writer got there first.
        """
        now_ms = int(self._clock() * 1000)
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=marshal({"ip_address": key}),
                UpdateExpression=(
                    "SET accepted_at = list_append(if_not_exists(accepted_at, :empty), :now), "
                    "expires_at = :expires ADD version :one"
                ),
                ConditionExpression="attribute_not_exists(ip_address) OR size(accepted_at) < :limit",
                ExpressionAttributeValues=marshal(
                    {
                        ":empty": [],
                        ":now": [now_ms],
                        ":expires": self._expires_at(now_ms),
                        ":one": 1,
                        ":limit": self._limit,
                    }
                ),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            current = unmarshal(exc.response.get("Item") or {})  # type: ignore[arg-type]  # ReturnValuesOnConditionCheckFailure
            return self._refuse_or_prune(key, current, now_ms)
        live = self._live(unmarshal(response["Attributes"]), now_ms)
        return self._decision(True, self._limit - len(live), live[0], now_ms)

    def _refuse_or_prune(self, key: str, item: dict[str, Any], now_ms: int) -> RateLimitDecision | None:
        live = self._live(item, now_ms)
        if len(live) >= self._limit:
            return self._decision(False, 0, live[len(live) - self._limit], now_ms)
        accepted = [*live, now_ms]
        version = int(item.get("version", 0))
        try:
            self._client.put_item(
                TableName=self._table,
                Item=marshal(
                    {
                        "ip_address": key,
                        "accepted_at": accepted,
                        "version": version + 1,
                        "expires_at": self._expires_at(now_ms),
                    }
                ),
                ConditionExpression="version = :read",
                ExpressionAttributeValues=marshal({":read": version}),
            )
        except ClientError as exc:
            if condition_failed(exc):
                return None
            raise
        return self._decision(True, self._limit - len(accepted), accepted[0], now_ms)

    def _live(self, item: dict[str, Any], now_ms: int) -> list[int]:
        return [stamp for stamp in self._stamps(item) if stamp > now_ms - self._window_ms]

    @staticmethod
    def _stamps(item: dict[str, Any]) -> list[int]:
        return sorted(int(stamp) for stamp in item.get("accepted_at", []))

    def _expires_at(self, now_ms: int) -> int:
        return math.ceil((now_ms + self._window_ms) / 1000)

    def _decision(self, allowed: bool, remaining: int, oldest_ms: int, now_ms: int) -> RateLimitDecision:
        reset_ms = oldest_ms + self._window_ms - now_ms
        return RateLimitDecision(
            allowed=allowed,
            limit=self._limit,
            remaining=remaining,
            reset_after_seconds=max(1, math.ceil(reset_ms / 1000)),
        )
