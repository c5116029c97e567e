"""Botocore's failures as the service's own: one translation, logged once with the operation, resource and cause."""

from collections.abc import Iterator
from contextlib import contextmanager

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from ..errors import DependencyUnavailable
from ..observability import SERVICE_NAME
from .permissions import PERMISSION_ERROR_CODES

logger = Logger(service=SERVICE_NAME, child=True)

UNAVAILABLE = "A service this request needs is temporarily unavailable; retry shortly."


@contextmanager
def translate(operation: str, resource: str, *, message: str = UNAVAILABLE) -> Iterator[None]:
    """Any botocore error inside becomes DependencyUnavailable(`message`), its cause attached and logged here.

    Errors a caller expects (a refused condition, a missing key) are caught inside the block first."""
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        code = error_code(exc)
        # A refused call was logged already, as the misconfiguration it is, by the client's own hook.
        if code not in PERMISSION_ERROR_CODES:
            logger.error(
                "AWS call failed",
                extra={"operation": operation, "resource": resource, "error_code": code, "reason": str(exc)},
            )
        raise DependencyUnavailable(message) from exc


def error_code(exc: Exception) -> str:
    """The AWS error code of a ClientError (`NoSuchKey`, `404`, ...); "" for anything else."""
    if not isinstance(exc, ClientError):
        return ""
    return str(exc.response.get("Error", {}).get("Code", ""))


def condition_failed(exc: Exception) -> bool:
    """Whether a DynamoDB write was refused by its ConditionExpression (an answer, not a failure)."""
    return error_code(exc) == "ConditionalCheckFailedException"
