"""boto3 clients with short timeouts, aimed at LocalStack/moto when AWS_ENDPOINT_URL is set."""

from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from .settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_lambda import LambdaClient


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
