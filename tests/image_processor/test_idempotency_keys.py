"""The store of answers to Idempotency-Key requests, over the wire against the emulator."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from image_processor.admission.idempotency_keys import Claim, DynamoDBAnswerStore, KeyRecord, StoredAnswer
from image_processor.aws import clients as aws
from image_processor.errors import DependencyUnavailable
from image_processor.settings import Settings
from tests.support.services import ManualClock

TTL = 3600
LEASE = 60
ANSWER = StoredAnswer(status=202, body=b'{"image_id": "x"}', headers={"location": "/jobs/x"})


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(settings: Settings, clock: ManualClock) -> DynamoDBAnswerStore:
    return DynamoDBAnswerStore(
        aws.client("dynamodb", settings), settings.idempotency_table, ttl_seconds=TTL, lease_seconds=LEASE, clock=clock
    )


def test_a_completed_claim_is_found_with_its_answer(store: DynamoDBAnswerStore) -> None:
    claim = store.claim("ip:198.51.100.1", "k", "fp")
    assert isinstance(claim, Claim)
    assert store.lookup("ip:198.51.100.1", "k") == KeyRecord(fingerprint="fp", answer=None)
    store.complete(claim, ANSWER)
    assert store.claim("ip:198.51.100.1", "k", "fp") == KeyRecord(fingerprint="fp", answer=ANSWER)
    assert store.lookup("ip:198.51.100.1", "k") == KeyRecord(fingerprint="fp", answer=ANSWER)


def test_of_many_concurrent_claims_one_wins(store: DynamoDBAnswerStore) -> None:
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda _: store.claim("ip:198.51.100.2", "k", "fp"), range(20)))
    assert sum(isinstance(result, Claim) for result in results) == 1
    assert all(result == KeyRecord("fp", None) for result in results if not isinstance(result, Claim))


def test_scopes_do_not_share_keys(store: DynamoDBAnswerStore) -> None:
    assert isinstance(store.claim("ip:198.51.100.3", "k", "fp"), Claim)
    assert isinstance(store.claim("ip:198.51.100.4", "k", "fp"), Claim)


def test_a_released_claim_can_be_taken_again(store: DynamoDBAnswerStore) -> None:
    claim = store.claim("s", "k", "fp")
    assert isinstance(claim, Claim)
    store.release(claim)
    assert store.lookup("s", "k") is None
    assert isinstance(store.claim("s", "k", "other"), Claim)


def test_a_claim_whose_holder_died_is_taken_over_after_its_lease(
    store: DynamoDBAnswerStore, clock: ManualClock
) -> None:
    stale = store.claim("s", "k", "fp")
    assert isinstance(stale, Claim)
    clock.advance(LEASE + 1)
    assert store.lookup("s", "k") is None
    fresh = store.claim("s", "k", "fp")
    assert isinstance(fresh, Claim)
    store.complete(stale, StoredAnswer(status=200, body=b"late", headers={}))  # the stale holder cannot overwrite
    store.release(stale)
    assert store.lookup("s", "k") == KeyRecord(fingerprint="fp", answer=None)
    store.complete(fresh, ANSWER)
    assert store.lookup("s", "k") == KeyRecord(fingerprint="fp", answer=ANSWER)


def test_answers_expire_with_their_ttl(
    store: DynamoDBAnswerStore, clock: ManualClock, settings: Settings, dynamodb: Any
) -> None:
    claim = store.claim("s", "k", "fp")
    assert isinstance(claim, Claim)
    store.complete(claim, ANSWER)
    item = dynamodb.scan(TableName=settings.idempotency_table)["Items"][0]
    assert int(item["expiration"]["N"]) == int(clock.now) + TTL
    clock.advance(TTL + 1)  # DynamoDB deletes expired items late; until then they are ignored
    assert store.lookup("s", "k") is None
    assert isinstance(store.claim("s", "k", "new"), Claim)


def test_an_unreachable_table_is_reported_as_unavailable(settings: Settings) -> None:
    store = DynamoDBAnswerStore(aws.client("dynamodb", settings), "no-such-table", ttl_seconds=TTL)
    with pytest.raises(DependencyUnavailable):
        store.claim("s", "k", "fp")
    with pytest.raises(DependencyUnavailable):
        store.lookup("s", "k")
