"""Readiness: can this instance serve requests now? Each dependency is asked one cheap question."""

import os
import tempfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from ..observability import SERVICE_NAME

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = Logger(service=SERVICE_NAME, child=True)

Probe = Callable[[], None]  # returns if the dependency answers, raises if not


@dataclass(frozen=True)
class Readiness:
    """Named probes, run together; `failures()` names those that did not answer."""

    probes: Mapping[str, Probe]

    def failures(self) -> list[str]:
        with ThreadPoolExecutor(max_workers=max(1, len(self.probes))) as pool:
            outcomes = {name: pool.submit(probe) for name, probe in self.probes.items()}
        failed = []
        for name, outcome in outcomes.items():
            error = outcome.exception()
            if error is not None:
                logger.warning("readiness probe failed", extra={"dependency": name, "reason": str(error)})
                failed.append(name)
        return failed


def dynamodb_table_probe(
    client: "DynamoDBClient", table: str, key_attribute: str, sort_attribute: str | None = None
) -> Probe:
    """A read of a key that never exists: proves the table answers with the permissions the service has."""
    key_attributes = [key_attribute, *([sort_attribute] if sort_attribute else [])]

    def probe() -> None:
        try:
            client.get_item(TableName=table, Key={name: {"S": "readiness-probe"} for name in key_attributes})
        except (BotoCoreError, ClientError) as exc:
            raise RuntimeError(f"DynamoDB table {table} did not answer") from exc

    return probe


def directory_probe(root: Path) -> Probe:
    """The image folder exists and a file can be created in it (and is removed again)."""

    def probe() -> None:
        with tempfile.NamedTemporaryFile(dir=root, prefix=".ready-", suffix=".tmp"):
            pass
        if not os.access(root, os.R_OK | os.X_OK):
            raise RuntimeError(f"{root} cannot be read")

    return probe
