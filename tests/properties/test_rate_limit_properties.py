"""The DynamoDB rate limiter (over moto's server) against a reference sliding window, for any request timing."""

import uuid
from collections import defaultdict
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from image_processor.admission.rate_limit import DynamoDBRateLimiter
from image_processor.settings import Settings
from tests.support.apps import fresh_settings

LIMIT = 3
WINDOW_SECONDS = 60
START = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def limiter_settings(tmp_path_factory: pytest.TempPathFactory, aws_endpoint: str) -> Settings:
    return fresh_settings(tmp_path_factory.mktemp("limiter"), aws_endpoint)


@pytest.fixture(scope="module")
def dynamodb_client(aws_endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=aws_endpoint, region_name="us-east-1")


# Each request: which of three clients sends it, and how long after the previous one (ms, up to 1.5 windows).
requests = st.lists(
    st.tuples(st.integers(min_value=0, max_value=2), st.integers(min_value=0, max_value=WINDOW_SECONDS * 1500)),
    min_size=1,
    max_size=14,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requests=requests)
def test_the_limiter_decides_exactly_as_a_sliding_window(
    dynamodb_client: Any, limiter_settings: Settings, requests: list[tuple[int, int]]
) -> None:
    """Never more than LIMIT admitted in any window per client, and never a refusal when there is room."""
    clock = Clock()
    limiter = DynamoDBRateLimiter(
        dynamodb_client, limiter_settings.rate_limit_table, limit=LIMIT, window_seconds=WINDOW_SECONDS, clock=clock
    )
    run = uuid.uuid4().hex
    admitted: dict[int, list[int]] = defaultdict(list)
    for client, gap_ms in requests:
        clock.now += gap_ms / 1000
        now_ms = int(clock.now * 1000)
        live = [stamp for stamp in admitted[client] if stamp > now_ms - WINDOW_SECONDS * 1000]
        decision = limiter.acquire(f"{run}-{client}")
        assert decision.allowed == (len(live) < LIMIT), (client, now_ms, admitted[client])
        if decision.allowed:
            admitted[client].append(now_ms)
            assert decision.remaining == LIMIT - len(live) - 1
        else:
            assert decision.remaining == 0
            assert 1 <= decision.reset_after_seconds <= WINDOW_SECONDS
    for stamps in admitted.values():
        for stamp in stamps:
            assert sum(stamp - WINDOW_SECONDS * 1000 < other <= stamp for other in stamps) <= LIMIT


# Each request: its client, the gap before its check, and the time its body takes to arrive before the slot is taken.
checked_requests = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=1),
        st.integers(min_value=0, max_value=WINDOW_SECONDS * 1500),
        st.integers(min_value=0, max_value=WINDOW_SECONDS * 500),
    ),
    min_size=1,
    max_size=14,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requests=checked_requests)
def test_check_then_acquire_decides_exactly_as_a_sliding_window(
    dynamodb_client: Any, limiter_settings: Settings, requests: list[tuple[int, int, int]]
) -> None:
    """The check refuses only a client at its limit; the slot taken later is decided at that later time."""
    clock = Clock()
    limiter = DynamoDBRateLimiter(
        dynamodb_client, limiter_settings.rate_limit_table, limit=LIMIT, window_seconds=WINDOW_SECONDS, clock=clock
    )
    run = uuid.uuid4().hex
    admitted: dict[int, list[int]] = defaultdict(list)

    def live(client: int, now_ms: int) -> int:
        return sum(stamp > now_ms - WINDOW_SECONDS * 1000 for stamp in admitted[client])

    for client, gap_ms, body_ms in requests:
        clock.now += gap_ms / 1000
        checked = limiter.check(f"{run}-{client}")
        assert checked.decision.allowed == (live(client, int(clock.now * 1000)) < LIMIT)
        if not checked.decision.allowed:
            continue
        clock.now += body_ms / 1000
        now_ms = int(clock.now * 1000)
        decision = limiter.acquire(f"{run}-{client}", checked)
        assert decision.allowed == (live(client, now_ms) < LIMIT)
        if decision.allowed:
            admitted[client].append(now_ms)
            assert decision.remaining == LIMIT - live(client, now_ms)
