"""Idempotency-Key requests on Powertools' idempotency utility, over the wire against the emulator."""

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from image_processor.admission.idempotency import Answer, IdempotentRequests, KeyState, Outcome
from image_processor.aws import clients as aws
from image_processor.errors import (
    CropOutOfBounds,
    DependencyUnavailable,
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
)
from image_processor.settings import Settings

TTL = 3600
ANSWER = Answer(body={"image_id": "x"}, headers={"location": "/jobs/x"})


def requests(settings: Settings, *, ttl_seconds: int = TTL, lease_seconds: int = 60) -> IdempotentRequests:
    return IdempotentRequests(
        aws.client("dynamodb", settings),
        settings.idempotency_table,
        ttl_seconds=ttl_seconds,
        lease_seconds=lease_seconds,
    )


@pytest.fixture
def store(settings: Settings) -> IdempotentRequests:
    return requests(settings)


def answering(answer: Answer = ANSWER) -> tuple[Callable[[], Answer], list[int]]:
    """Work that answers `answer`, and the list its runs are counted in."""
    runs: list[int] = []

    def work() -> Answer:
        runs.append(1)
        return answer

    return work, runs


def wait_until(condition: Callable[[], bool], *, deadline_seconds: float = 15) -> None:
    deadline = time.monotonic() + deadline_seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.05)


def test_a_completed_request_is_found_with_its_answer(store: IdempotentRequests) -> None:
    seen: list[KeyState | None] = []

    def work() -> Answer:
        seen.append(store.lookup("ip:198.51.100.1", "k"))
        return ANSWER

    assert store.run("ip:198.51.100.1", "k", "fp", work) == Outcome(ANSWER, replayed=False)
    assert seen == [KeyState.IN_PROGRESS]
    assert store.lookup("ip:198.51.100.1", "k") is KeyState.ANSWERED
    again, runs = answering(Answer(body={"image_id": "second"}, headers={}))
    assert store.run("ip:198.51.100.1", "k", "fp", again) == Outcome(ANSWER, replayed=True)
    assert runs == []


def test_the_same_key_for_a_different_request_is_refused(store: IdempotentRequests) -> None:
    store.run("ip:198.51.100.1", "k", "fp", answering()[0])
    work, runs = answering()
    with pytest.raises(IdempotencyKeyReused):
        store.run("ip:198.51.100.1", "k", "another request", work)
    assert runs == []


def test_of_many_concurrent_requests_one_runs_and_the_others_are_told_it_is_in_progress(
    store: IdempotentRequests,
) -> None:
    others_answered, runs = threading.Event(), []

    def slow_work() -> Answer:
        runs.append(1)
        assert others_answered.wait(30)
        return ANSWER

    def attempt(_: int) -> Outcome | Exception:
        try:
            return store.run("ip:198.51.100.2", "k", "fp", slow_work)
        except IdempotencyKeyInProgress as refused:
            return refused

    with ThreadPoolExecutor(max_workers=20) as pool:
        pending = [pool.submit(attempt, n) for n in range(20)]
        wait_until(lambda: sum(future.done() for future in pending) == 19)
        others_answered.set()
        results = [future.result(timeout=30) for future in pending]
    assert len(runs) == 1
    assert sum(isinstance(result, IdempotencyKeyInProgress) for result in results) == 19
    assert [result for result in results if isinstance(result, Outcome)] == [Outcome(ANSWER, replayed=False)]


def test_clients_do_not_share_keys(store: IdempotentRequests) -> None:
    first, second = answering(), answering()
    assert store.run("ip:198.51.100.3", "k", "fp", first[0]).replayed is False
    assert store.run("ip:198.51.100.4", "k", "fp", second[0]).replayed is False
    assert first[1] == second[1] == [1]


def test_a_request_whose_work_failed_frees_its_key(store: IdempotentRequests) -> None:
    def failing() -> Answer:
        raise CropOutOfBounds("outside", field="crop_box")

    with pytest.raises(CropOutOfBounds):
        store.run("s", "k", "fp", failing)
    assert store.lookup("s", "k") is None
    work, runs = answering()
    assert store.run("s", "k", "other", work) == Outcome(ANSWER, replayed=False)
    assert runs == [1]


def test_a_key_whose_holder_died_is_taken_over_after_its_lease(settings: Settings) -> None:
    store = requests(settings, lease_seconds=1)
    stuck, finished = threading.Event(), threading.Event()

    def never_finishes() -> Answer:  # a holder that stops answering (its process died)
        stuck.set()
        finished.wait(30)
        raise RuntimeError("the holder is gone")

    with ThreadPoolExecutor(max_workers=1) as pool:
        holder = pool.submit(store.run, "s", "k", "fp", never_finishes)
        assert stuck.wait(15)
        assert store.lookup("s", "k") is KeyState.IN_PROGRESS
        wait_until(lambda: store.lookup("s", "k") is None)  # the lease ran out
        work, runs = answering()
        assert store.run("s", "k", "fp", work) == Outcome(ANSWER, replayed=False)
        assert runs == [1]
        finished.set()
        with pytest.raises(RuntimeError):
            holder.result(timeout=30)


def test_answers_expire_with_their_ttl(settings: Settings, dynamodb: Any) -> None:
    store = requests(settings, ttl_seconds=1)
    before = int(time.time())
    store.run("s", "k", "fp", answering()[0])
    item = dynamodb.scan(TableName=settings.idempotency_table)["Items"][0]
    assert before + 1 <= int(item["expiration"]["N"]) <= int(time.time()) + 1
    wait_until(lambda: store.lookup("s", "k") is None)  # DynamoDB deletes expired items late; until then ignored
    work, runs = answering()
    assert store.run("s", "k", "new request", work) == Outcome(ANSWER, replayed=False)
    assert runs == [1]


def test_an_unreachable_table_is_reported_as_unavailable(settings: Settings) -> None:
    store = IdempotentRequests(aws.client("dynamodb", settings), "no-such-table", ttl_seconds=TTL)
    work, runs = answering()
    with pytest.raises(DependencyUnavailable):
        store.run("s", "k", "fp", work)
    with pytest.raises(DependencyUnavailable):
        store.lookup("s", "k")
    assert runs == []
