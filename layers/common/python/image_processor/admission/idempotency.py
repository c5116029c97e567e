"""Requests sent with an `Idempotency-Key`, on Powertools' idempotency utility: the work runs once, and a
retry with the same key and the same request gets the first answer.

The records live in the idempotency table beside the worker's, under their own prefix (`api-request#`),
keyed by the client and its key, so keys are scoped per client. Each holds the request's fingerprint
(payload validation: the key cannot be reused for a different request) and expires after
`ttl_seconds`. While the work runs the record is in progress for at most `lease_seconds`, after which
a claim whose holder died is taken over. Work that raises deletes the record, so a retry runs again.

Powertools decides once it has the request, and the fingerprint needs the body; `lookup` reads the
record before the body is read, so that a key still in progress is refused at once and a key already
answered takes no quota slot (docs/design.md, "Idempotency").
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyItemNotFoundError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..aws.errors import translate
from ..errors import DependencyUnavailable, IdempotencyKeyInProgress, IdempotencyKeyReused
from ..observability import SERVICE_NAME

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
    from mypy_boto3_dynamodb import DynamoDBClient

logger = Logger(service=SERVICE_NAME, child=True)

KEY_PREFIX = "api-request"
_KEY = "[client, key]"
_UNAVAILABLE = "Idempotency keys are temporarily unavailable; retry shortly."


@dataclass(frozen=True)
class Answer:
    """What a request answered: its JSON body and the headers a retry must see again (Location)."""

    body: dict[str, Any]
    headers: dict[str, str]


@dataclass(frozen=True)
class Outcome:
    answer: Answer
    replayed: bool


class KeyState(Enum):
    IN_PROGRESS = "in_progress"
    ANSWERED = "answered"


@dataclass(frozen=True)
class _Lease:
    """The time an in-progress record holds its key; Powertools reads it as a Lambda invocation's remaining time."""

    seconds: int

    def get_remaining_time_in_millis(self) -> int:
        return self.seconds * 1000


class IdempotentRequests:
    def __init__(self, client: "DynamoDBClient", table_name: str, *, ttl_seconds: int, lease_seconds: int = 60) -> None:
        self._table = table_name
        config = IdempotencyConfig(
            event_key_jmespath=_KEY,
            payload_validation_jmespath="request",
            expires_after_seconds=ttl_seconds,
            hash_function="sha256",
            response_hook=_replayed,
        )
        config.register_lambda_context(cast(LambdaContext, _Lease(lease_seconds)))
        self._run = idempotent_function(
            _run_work,
            data_keyword_argument="request",
            persistence_store=DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client),
            config=config,
            key_prefix=KEY_PREFIX,
        )
        # Reads the same records without the payload check: before the body there is no fingerprint to check.
        self._reader = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client)
        self._reader.configure(
            IdempotencyConfig(event_key_jmespath=_KEY, expires_after_seconds=ttl_seconds, hash_function="sha256"),
            key_prefix=KEY_PREFIX,
        )

    def lookup(self, client: str, key: str) -> KeyState | None:
        """What `client`'s `key` holds now: nothing (never used, expired, or its holder's lease ran out), a
        request in progress, or an answer."""
        with translate("GetItem", self._table, message=_UNAVAILABLE):
            try:
                record = self._reader.get_record({"client": client, "key": key})
            except IdempotencyItemNotFoundError:
                return None
        if record is None or record.is_expired:
            return None
        if record.status == "COMPLETED":
            return KeyState.ANSWERED
        lease_end = record.in_progress_expiry_timestamp
        return KeyState.IN_PROGRESS if lease_end is None or lease_end >= time.time() * 1000 else None

    def run(self, client: str, key: str, fingerprint: str, work: Callable[[], Answer]) -> Outcome:
        """The first answer for (`client`, `key`): `work`'s, run now, or the one kept from an earlier run.

        Blocking (DynamoDB calls): run it in a worker thread."""
        done: list[Answer] = []
        failed: list[Exception] = []

        def tracked() -> dict[str, Any]:
            try:
                answer = work()
            except Exception as exc:
                failed.append(exc)
                raise
            done.append(answer)
            return {"body": answer.body, "headers": answer.headers}

        try:
            kept = self._run(tracked, request={"client": client, "key": key, "request": fingerprint})
        except IdempotencyAlreadyInProgressError as exc:
            raise in_progress() from exc
        except IdempotencyValidationError as exc:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was used for a different request; use a new key for a new request."
            ) from exc
        except IdempotencyPersistenceLayerError as exc:
            if done:
                # The work is done and the client gets its answer; a retry after the lease runs it again.
                logger.error("the answer to an idempotent request could not be kept", extra={"reason": str(exc)})
                return Outcome(done[0], replayed=False)
            if failed:
                logger.error("an idempotency claim could not be released; it lapses with its lease")
                raise failed[0] from exc  # the work's own error, the failed release its cause
            logger.error("idempotency store unavailable", extra={"table": self._table, "reason": str(exc)})
            raise DependencyUnavailable(_UNAVAILABLE) from exc
        answer = Answer(body=kept["body"], headers=kept["headers"])
        return Outcome(answer, replayed=bool(kept.get("replayed")))


def in_progress() -> IdempotencyKeyInProgress:
    return IdempotencyKeyInProgress("A request with this Idempotency-Key is still running; retry in a second.")


def _run_work(work: Callable[[], dict[str, Any]], *, request: dict[str, str]) -> dict[str, Any]:
    return work()


def _replayed(response: Any, idempotent_data: "DataRecord") -> Any:
    """Powertools calls this only when it answers from a kept record instead of running the work."""
    return {**response, "replayed": True}
