"""boto3 clients with short timeouts, aimed at LocalStack/moto when AWS_ENDPOINT_URL is set."""

from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
from botocore.config import Config

from ..settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client

# Objects are up to MAX_UPLOAD_BYTES; a read timeout sized for DynamoDB would cut a 20 MB transfer short.
_S3_READ_TIMEOUT_SECONDS = 30.0


@overload
def client(service: Literal["dynamodb"], settings: Settings) -> "DynamoDBClient": ...
@overload
def client(service: Literal["lambda"], settings: Settings) -> "LambdaClient": ...
@overload
def client(service: Literal["s3"], settings: Settings) -> "S3Client": ...
def client(service: Literal["dynamodb", "lambda", "s3"], settings: Settings) -> Any:
    """A new client of `service` in its own session (boto3's default session is not thread-safe)."""
    timeout = settings.dynamodb_timeout_seconds
    config = Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"mode": "standard", "total_max_attempts": 2},
        max_pool_connections=64,
    )
    if service == "s3":
        config = config.merge(
            Config(
                read_timeout=max(timeout, _S3_READ_TIMEOUT_SECONDS),
                signature_version="s3v4",
                # An emulator on an IP address or localhost has no per-bucket host names.
                s3={"addressing_style": "path" if settings.aws_endpoint_url else "auto"},
            )
        )
    return boto3.session.Session().client(
        service, region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url, config=config
    )
