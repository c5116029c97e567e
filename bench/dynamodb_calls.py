"""DynamoDB calls per rate-limit decision, counted by botocore event hooks on the limiter's own client."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from image_processor.admission.rate_limit import DynamoDBRateLimiter, RateLimitDecision

from .stats import percentile

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclass(frozen=True)
class DecisionCost:
    path: str
    decisions: int
    api_calls_per_decision: float
    http_requests_per_decision: float
    operations: dict[str, int]
    p50_ms: float
    p95_ms: float


class CallCounter:
    """`before-call` fires once per API call; `before-send` once per HTTP attempt (retries included)."""

    def __init__(self, client: "DynamoDBClient") -> None:
        self.operations: dict[str, int] = {}
        self.http_requests = 0
        client.meta.events.register("before-call.dynamodb", self._on_call)
        client.meta.events.register("before-send.dynamodb", self._on_send)

    @property
    def api_calls(self) -> int:
        return sum(self.operations.values())

    def reset(self) -> None:
        self.operations, self.http_requests = {}, 0

    def _on_call(self, model: Any, **_: Any) -> None:
        self.operations[model.name] = self.operations.get(model.name, 0) + 1

    def _on_send(self, **_: Any) -> None:
        self.http_requests += 1


class _Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def measure_decision_costs(client: "DynamoDBClient", table: str, *, decisions: int = 40) -> list[DecisionCost]:
    """Admit (under the limit), refuse (at the limit) and admit after the window has passed (stale times pruned)."""
    counter = CallCounter(client)
    run_id = f"{time.time_ns()}"

    admit = DynamoDBRateLimiter(client, table, limit=decisions + 1, window_seconds=3600)
    costs = [_cost("admit", counter, decisions, lambda: admit.acquire(f"bench-admit-{run_id}"), expect=True)]

    refuse = DynamoDBRateLimiter(client, table, limit=3, window_seconds=3600)
    for _ in range(3):
        refuse.acquire(f"bench-refuse-{run_id}")
    costs.append(_cost("refuse", counter, decisions, lambda: refuse.acquire(f"bench-refuse-{run_id}"), expect=False))

    # limit=1 and a clock that jumps past the window before each decision: every admission first finds
    # the item full of an expired time, so it takes the pruning write.
    clock = _Clock()
    prune = DynamoDBRateLimiter(client, table, limit=1, window_seconds=1, clock=clock)
    prune.acquire(f"bench-prune-{run_id}")

    def after_window() -> RateLimitDecision:
        clock.now += 2
        return prune.acquire(f"bench-prune-{run_id}")

    costs.append(_cost("admit after the window (prune)", counter, decisions, after_window, expect=True))
    costs += _two_step_costs(client, table, counter, run_id, decisions)
    return costs


def _two_step_costs(
    client: "DynamoDBClient", table: str, counter: CallCounter, run_id: str, decisions: int
) -> list[DecisionCost]:
    """As the crop endpoints decide: `check` before the body, `acquire` with what it read once the request is valid."""
    admit = DynamoDBRateLimiter(client, table, limit=decisions + 1, window_seconds=3600)
    key = f"bench-two-step-admit-{run_id}"
    costs = [
        _cost("check, then acquire", counter, decisions, lambda: admit.acquire(key, admit.check(key)), expect=True)
    ]

    refuse = DynamoDBRateLimiter(client, table, limit=1, window_seconds=3600)
    refuse.acquire(f"bench-two-step-refuse-{run_id}")
    costs.append(
        _cost(
            "check refuses (before the body)",
            counter,
            decisions,
            lambda: refuse.check(f"bench-two-step-refuse-{run_id}").decision,
            expect=False,
        )
    )

    clock = _Clock()
    prune = DynamoDBRateLimiter(client, table, limit=1, window_seconds=1, clock=clock)
    prune_key = f"bench-two-step-prune-{run_id}"
    prune.acquire(prune_key)

    def after_window() -> RateLimitDecision:
        clock.now += 2
        return prune.acquire(prune_key, prune.check(prune_key))

    costs.append(_cost("check, then acquire after the window (prune)", counter, decisions, after_window, expect=True))
    return costs


def _cost(
    path: str, counter: CallCounter, decisions: int, decide: Callable[[], RateLimitDecision], *, expect: bool
) -> DecisionCost:
    counter.reset()
    latencies_ms: list[float] = []
    for _ in range(decisions):
        started = time.perf_counter()
        decision = decide()
        latencies_ms.append((time.perf_counter() - started) * 1000)
        if decision.allowed is not expect:
            raise AssertionError(f"{path}: expected allowed={expect}, got {decision}")
    return DecisionCost(
        path=path,
        decisions=decisions,
        api_calls_per_decision=counter.api_calls / decisions,
        http_requests_per_decision=counter.http_requests / decisions,
        operations=dict(sorted(counter.operations.items())),
        p50_ms=percentile(latencies_ms, 0.50),
        p95_ms=percentile(latencies_ms, 0.95),
    )
