"""boto3 clients with short timeouts, aimed at LocalStack/moto when AWS_ENDPOINT_URL is set.

Every call ends within `call_budget_seconds`: the API function's timeout (and so API Gateway's 29 s)
must leave room for it, so that a hung dependency ends as the service's own 503, not a gateway 504.
"""

from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
from botocore.config import Config

from ..settings import Settings
from .permissions import log_refused_calls

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client

# The read timeout bounds each wait for bytes, not a whole transfer: S3 answers a 20 MB PutObject or
# streams a GetObject with pauses far shorter than this, and it leaves a retry inside the API's timeout.
S3_READ_TIMEOUT_SECONDS = 5.0
ATTEMPTS = 2


def call_budget_seconds(settings: Settings) -> float:
    """The longest one AWS call can take: every attempt connecting and then waiting its longest read."""
    timeout = settings.aws_timeout_seconds
    return ATTEMPTS * (timeout + max(timeout, S3_READ_TIMEOUT_SECONDS))


# Every AWS service the functions make clients of (the Lambda zips keep only these botocore models).
ServiceName = Literal["cloudfront", "dynamodb", "lambda", "s3", "sqs"]


@overload
def client(service: Literal["dynamodb"], settings: Settings) -> "DynamoDBClient": ...
@overload
def client(service: Literal["lambda"], settings: Settings) -> "LambdaClient": ...
@overload
def client(service: Literal["s3"], settings: Settings) -> "S3Client": ...
@overload
def client(service: Literal["cloudfront", "sqs"], settings: Settings) -> Any: ...
def client(service: ServiceName, settings: Settings) -> Any:
    """A new client of `service` in its own session (boto3's default session is not thread-safe), whose
    refused calls are logged as misconfigured permissions."""
    timeout = settings.aws_timeout_seconds
    config = Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"mode": "standard", "total_max_attempts": ATTEMPTS},
        max_pool_connections=64,
    )
    if service == "s3":
        config = config.merge(
            Config(
                read_timeout=max(timeout, S3_READ_TIMEOUT_SECONDS),
                signature_version="s3v4",
                # An emulator on an IP address or localhost has no per-bucket host names.
                s3={"addressing_style": "path" if settings.aws_endpoint_url else "auto"},
            )
        )
    made = boto3.session.Session().client(
        service, region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url, config=config
    )
    log_refused_calls(made)
    return made
