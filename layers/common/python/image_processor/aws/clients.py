"""boto3 clients with short timeouts, aimed at LocalStack/moto when AWS_ENDPOINT_URL is set."""

from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from ..settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client

# Objects are up to MAX_UPLOAD_BYTES; a read timeout sized for DynamoDB would cut a 20 MB transfer short.
_S3_READ_TIMEOUT_SECONDS = 30.0


def _config(settings: Settings) -> Config:
    timeout = settings.dynamodb_timeout_seconds
    return Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"mode": "standard", "total_max_attempts": 2},
        max_pool_connections=64,
    )


def dynamodb_client(settings: Settings) -> "DynamoDBClient":
    return boto3.session.Session().client(
        "dynamodb",
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        config=_config(settings),
    )


def lambda_client(settings: Settings) -> "LambdaClient":
    return boto3.session.Session().client(
        "lambda",
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        config=_config(settings),
    )


def cloudfront_client(settings: Settings) -> Any:
    return boto3.session.Session().client(
        "cloudfront", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url, config=_config(settings)
    )


def s3_client(settings: Settings) -> "S3Client":
    config = _config(settings).merge(
        Config(
            read_timeout=max(settings.dynamodb_timeout_seconds, _S3_READ_TIMEOUT_SECONDS),
            signature_version="s3v4",
            # An emulator on an IP address or localhost has no per-bucket host names.
            s3={"addressing_style": "path" if settings.aws_endpoint_url else "auto"},
        )
    )
    return boto3.session.Session().client(
        "s3", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url, config=config
    )
