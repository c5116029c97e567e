"""The DynamoDB sliding-window limiter, over the wire against the emulator."""

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from image_processor.admission.rate_limit import DynamoDBRateLimiter, RateLimitDecision
from image_processor.aws import clients as aws
from image_processor.errors import DependencyUnavailable
from image_processor.settings import Settings
from tests.support.services import ManualClock

LIMIT = 20
WINDOW = 3600


class CallCounter:
    """Counts the HTTP requests a boto3 client sends, through botocore's own event hooks."""

    def __init__(self, client: Any) -> None:
        self.operations: list[str] = []
        self._lock = threading.Lock()
        client.meta.events.register("before-send.dynamodb", self._count)

    def _count(self, request: Any, **_: Any) -> None:
        target = request.headers.get("X-Amz-Target", b"")
        name = target.decode() if isinstance(target, bytes) else str(target)
        with self._lock:
            self.operations.append(name.rsplit(".", 1)[-1])

    def reset(self) -> None:
        with self._lock:
            self.operations.clear()


@pytest.fixture
def dynamodb_client(settings: Settings) -> Any:
    return aws.client("dynamodb", settings)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def limiter(dynamodb_client: Any, settings: Settings, clock: ManualClock) -> DynamoDBRateLimiter:
    return DynamoDBRateLimiter(
        dynamodb_client, settings.rate_limit_table, limit=LIMIT, window_seconds=WINDOW, clock=clock
    )


def admitted(decisions: list[RateLimitDecision]) -> int:
    return sum(decision.allowed for decision in decisions)


def test_admits_exactly_the_limit_out_of_many_concurrent_requests(dynamodb_client: Any, settings: Settings) -> None:
    limiter = DynamoDBRateLimiter(dynamodb_client, settings.rate_limit_table, limit=5, window_seconds=WINDOW)
    with ThreadPoolExecutor(max_workers=30) as pool:
        decisions = list(pool.map(lambda _: limiter.acquire("198.51.100.7"), range(30)))
    assert admitted(decisions) == 5
    assert sorted(d.remaining for d in decisions if d.allowed) == list(range(5))


def test_separate_limiters_share_one_budget_per_key(dynamodb_client: Any, settings: Settings) -> None:
    """Two limiters with their own clients stand for two processes or Lambda instances."""
    other_client = aws.client("dynamodb", settings)
    limiters = [
        DynamoDBRateLimiter(client, settings.rate_limit_table, limit=5, window_seconds=WINDOW)
        for client in (dynamodb_client, other_client)
    ]
    with ThreadPoolExecutor(max_workers=30) as pool:
        decisions = list(pool.map(lambda i: limiters[i % 2].acquire("198.51.100.8"), range(30)))
    assert admitted(decisions) == 5


def test_keys_are_counted_separately(limiter: DynamoDBRateLimiter) -> None:
    for _ in range(LIMIT):
        assert limiter.acquire("198.51.100.1").allowed
    assert not limiter.acquire("198.51.100.1").allowed
    assert limiter.acquire("198.51.100.2").allowed


def test_the_window_slides(limiter: DynamoDBRateLimiter, clock: ManualClock) -> None:
    for _ in range(LIMIT // 2):
        assert limiter.acquire("k").allowed
    clock.advance(1800)
    for _ in range(LIMIT // 2):
        assert limiter.acquire("k").allowed
    assert not limiter.acquire("k").allowed

    clock.advance(1799)  # the first half is 3599 s old: still inside the window
    assert not limiter.acquire("k").allowed
    clock.advance(1.001)  # now it has left the window, the second half has not
    for _ in range(LIMIT // 2):
        assert limiter.acquire("k").allowed
    assert not limiter.acquire("k").allowed


def test_retry_after_counts_down_to_when_the_oldest_request_leaves_the_window(
    limiter: DynamoDBRateLimiter, clock: ManualClock
) -> None:
    first = limiter.acquire("k")
    assert first.allowed and first.remaining == LIMIT - 1 and first.reset_after_seconds == WINDOW
    clock.advance(100)
    for _ in range(LIMIT - 1):
        limiter.acquire("k")
    clock.advance(500)
    refused = limiter.acquire("k")
    assert not refused.allowed
    assert refused.remaining == 0
    assert refused.reset_after_seconds == WINDOW - 600

    clock.advance(WINDOW - 600 - 0.5)
    assert limiter.acquire("k").reset_after_seconds == 1
    clock.advance(0.5)
    assert limiter.acquire("k").allowed


def test_refusals_take_no_slot(limiter: DynamoDBRateLimiter, clock: ManualClock) -> None:
    for _ in range(LIMIT):
        limiter.acquire("k")
    for _ in range(5):
        clock.advance(60)
        assert not limiter.acquire("k").allowed
    clock.advance(WINDOW - 300)
    assert limiter.acquire("k").allowed


def test_items_carry_a_ttl_past_the_window(
    limiter: DynamoDBRateLimiter, dynamodb_client: Any, settings: Settings, clock: ManualClock
) -> None:
    limiter.acquire("198.51.100.9")
    item = dynamodb_client.get_item(TableName=settings.rate_limit_table, Key={"ip_address": {"S": "198.51.100.9"}})[
        "Item"
    ]
    assert int(item["expires_at"]["N"]) == int(clock.now) + WINDOW
    ttl = dynamodb_client.describe_time_to_live(TableName=settings.rate_limit_table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_the_item_never_grows_past_the_limit(
    limiter: DynamoDBRateLimiter, dynamodb_client: Any, settings: Settings, clock: ManualClock
) -> None:
    for _ in range(3 * LIMIT):
        assert limiter.acquire("k").allowed
        clock.advance(WINDOW / LIMIT)
    item = dynamodb_client.get_item(TableName=settings.rate_limit_table, Key={"ip_address": {"S": "k"}})["Item"]
    assert len(item["accepted_at"]["L"]) <= LIMIT


@pytest.fixture
def counted(dynamodb_client: Any, settings: Settings, clock: ManualClock) -> Iterator[tuple[Any, CallCounter]]:
    counter = CallCounter(dynamodb_client)
    limiter = DynamoDBRateLimiter(
        dynamodb_client, settings.rate_limit_table, limit=LIMIT, window_seconds=WINDOW, clock=clock
    )
    yield limiter, counter


def test_a_decision_takes_one_dynamodb_call_on_the_normal_path(
    counted: tuple[DynamoDBRateLimiter, CallCounter],
) -> None:
    limiter, counter = counted
    for _ in range(LIMIT):
        counter.reset()
        assert limiter.acquire("k").allowed
        assert counter.operations == ["UpdateItem"]
    counter.reset()
    assert not limiter.acquire("k").allowed
    assert counter.operations == ["UpdateItem"]


def test_pruning_expired_times_takes_a_second_call(
    counted: tuple[DynamoDBRateLimiter, CallCounter], clock: ManualClock
) -> None:
    limiter, counter = counted
    for _ in range(LIMIT):
        limiter.acquire("k")
    clock.advance(WINDOW)
    counter.reset()
    decision = limiter.acquire("k")
    assert decision.allowed and decision.remaining == LIMIT - 1
    assert counter.operations == ["UpdateItem", "PutItem"]
    counter.reset()
    assert limiter.acquire("k").allowed
    assert counter.operations == ["UpdateItem"]


def test_a_burst_costs_one_call_per_request(dynamodb_client: Any, settings: Settings) -> None:
    counter = CallCounter(dynamodb_client)
    limiter = DynamoDBRateLimiter(dynamodb_client, settings.rate_limit_table, limit=LIMIT, window_seconds=WINDOW)
    with ThreadPoolExecutor(max_workers=30) as pool:
        decisions = list(pool.map(lambda _: limiter.acquire("burst"), range(60)))
    assert admitted(decisions) == LIMIT
    assert len(counter.operations) == 60


def test_an_unreachable_table_is_reported_as_unavailable(settings: Settings) -> None:
    limiter = DynamoDBRateLimiter(aws.client("dynamodb", settings), "no-such-table", limit=LIMIT, window_seconds=WINDOW)
    with pytest.raises(DependencyUnavailable):
        limiter.acquire("k")


# --- Two steps: a read-only check before the body, the slot taken once the request is valid -------------


def test_a_check_takes_no_slot(limiter: DynamoDBRateLimiter) -> None:
    for _ in range(3 * LIMIT):
        checked = limiter.check("k")
        assert checked.decision.allowed and checked.decision.remaining == LIMIT
    for _ in range(LIMIT):
        assert limiter.acquire("k", limiter.check("k")).allowed
    refused = limiter.check("k")
    assert not refused.decision.allowed and refused.decision.remaining == 0
    assert refused.decision.reset_after_seconds == WINDOW


def test_check_then_acquire_costs_two_calls_pruning_included(
    counted: tuple[DynamoDBRateLimiter, CallCounter], clock: ManualClock
) -> None:
    limiter, counter = counted
    for used in range(LIMIT):
        counter.reset()
        decision = limiter.acquire("k", limiter.check("k"))
        assert decision.allowed and decision.remaining == LIMIT - used - 1
        assert counter.operations == ["GetItem", "UpdateItem"]
    counter.reset()
    assert not limiter.check("k").decision.allowed
    assert counter.operations == ["GetItem"]

    clock.advance(WINDOW)  # every stored time has expired, and together they fill the item
    counter.reset()
    decision = limiter.acquire("k", limiter.check("k"))
    assert decision.allowed and decision.remaining == LIMIT - 1
    assert counter.operations == ["GetItem", "PutItem"]


def test_slots_taken_between_check_and_acquire_still_count(limiter: DynamoDBRateLimiter) -> None:
    """Every request passes the check while one slot is left; only one of them may take it."""
    for _ in range(LIMIT - 1):
        limiter.acquire("k")
    checks = [limiter.check("k") for _ in range(5)]
    assert all(checked.decision.allowed for checked in checks)
    assert [limiter.acquire("k", checked).allowed for checked in checks] == [True, False, False, False, False]


def test_a_prune_that_lost_the_race_is_decided_again(limiter: DynamoDBRateLimiter, clock: ManualClock) -> None:
    for _ in range(LIMIT):
        limiter.acquire("k")
    clock.advance(WINDOW)
    first, second = limiter.check("k"), limiter.check("k")  # both read the same full, expired item
    assert limiter.acquire("k", first).allowed
    decision = limiter.acquire("k", second)  # its version is stale: the append path decides instead
    assert decision.allowed and decision.remaining == LIMIT - 2


def test_check_then_acquire_admits_exactly_the_limit_under_concurrency(
    dynamodb_client: Any, settings: Settings
) -> None:
    limiter = DynamoDBRateLimiter(dynamodb_client, settings.rate_limit_table, limit=5, window_seconds=WINDOW)

    def request(_: int) -> bool:
        checked = limiter.check("198.51.100.9")
        return checked.decision.allowed and limiter.acquire("198.51.100.9", checked).allowed

    with ThreadPoolExecutor(max_workers=30) as pool:
        assert sum(pool.map(request, range(30))) == 5


def test_limiters_with_different_prefixes_keep_separate_budgets(
    dynamodb_client: Any, settings: Settings, clock: ManualClock
) -> None:
    smart = DynamoDBRateLimiter(dynamodb_client, settings.rate_limit_table, limit=1, window_seconds=WINDOW)
    manual = DynamoDBRateLimiter(
        dynamodb_client, settings.rate_limit_table, limit=1, window_seconds=WINDOW, key_prefix="manual-crop:"
    )
    assert smart.acquire("198.51.100.3").allowed
    assert manual.acquire("198.51.100.3").allowed
    assert not smart.check("198.51.100.3").decision.allowed
    assert not manual.check("198.51.100.3").decision.allowed
    stored = dynamodb_client.get_item(
        TableName=settings.rate_limit_table, Key={"ip_address": {"S": "manual-crop:198.51.100.3"}}
    )
    assert "Item" in stored


def test_contention_that_never_settles_is_unavailable_after_the_last_attempt(
    dynamodb_client: Any, settings: Settings, clock: ManualClock
) -> None:
    """A rival writer moves the item's version before each of the limiter's pruning writes, so every one loses."""
    limiter = DynamoDBRateLimiter(
        dynamodb_client, settings.rate_limit_table, limit=2, window_seconds=WINDOW, clock=clock, max_attempts=4
    )
    limiter.acquire("k")
    limiter.acquire("k")
    clock.advance(WINDOW + 1)  # both times have left the window: the next decision must prune them
    rival = aws.client("dynamodb", settings)
    pruning_writes: list[str] = []

    def rival_writes_first(params: dict[str, Any], **_: Any) -> None:
        pruning_writes.append(params["Item"]["ip_address"]["S"])
        rival.update_item(
            TableName=settings.rate_limit_table,
            Key={"ip_address": {"S": "k"}},
            UpdateExpression="ADD version :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )

    dynamodb_client.meta.events.register("provide-client-params.dynamodb.PutItem", rival_writes_first)
    with pytest.raises(DependencyUnavailable):
        limiter.acquire("k")
    assert pruning_writes == ["k"] * 4
