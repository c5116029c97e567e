"""The AWS emulator, its tables and service processes, on loopback with free ports, started as the tests do."""

import contextlib
import os
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3

from image_processor.aws import clients as aws
from image_processor.settings import Settings
from tools.local_tables import create_tables
from tools.processes import ServiceProcess, running_emulator, service_process

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Nothing here talks to real AWS: the emulator accepts any credentials.
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_SESSION_TOKEN": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
# High enough that the benchmark never meets the 20-per-hour limit; its cost per request is unchanged.
UNLIMITED_RATE = "1000000"


@dataclass(frozen=True)
class LocalAws:
    endpoint: str
    tables: Mapping[str, str]

    def settings(self, **overrides: object) -> Settings:
        return Settings.model_validate(
            {
                "aws_endpoint_url": self.endpoint,
                "aws_region": DUMMY_CREDENTIALS["AWS_REGION"],
                "rate_limit_table": self.tables["rate_limit"],
                "jobs_table": self.tables["jobs"],
                "idempotency_table": self.tables["idempotency"],
                "catalog_table": self.tables["catalog"],
                **overrides,
            }
        )

    def dynamodb_client(self) -> "DynamoDBClient":
        """A client built by the service's own factory (same timeouts, retries and pool)."""
        with _environment(DUMMY_CREDENTIALS):
            return aws.client("dynamodb", self.settings())


@contextlib.contextmanager
def local_aws() -> Iterator[LocalAws]:
    with running_emulator() as endpoint:
        client = boto3.client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name=DUMMY_CREDENTIALS["AWS_REGION"],
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        suffix = uuid.uuid4().hex[:8]
        tables = {role: f"bench-{role}-{suffix}" for role in ("rate_limit", "jobs", "idempotency", "catalog")}
        create_tables(client, tables)
        yield LocalAws(endpoint=endpoint, tables=tables)


@contextlib.contextmanager
def service(local: LocalAws, work_dir: Path, name: str, env: Mapping[str, str]) -> Iterator[ServiceProcess]:
    """uvicorn running local_server.py; its images go under `work_dir/name`, its log to `work_dir/name.log`."""
    server_env = {
        **DUMMY_CREDENTIALS,
        "AWS_ENDPOINT_URL": local.endpoint,
        "RATE_LIMIT_TABLE": local.tables["rate_limit"],
        "JOBS_TABLE": local.tables["jobs"],
        "IDEMPOTENCY_TABLE": local.tables["idempotency"],
        "CATALOG_TABLE": local.tables["catalog"],
        "PROCESSED_IMAGES_DIR": str(work_dir / name),
        "RATE_LIMIT_REQUESTS": UNLIMITED_RATE,
        "LOG_LEVEL": "WARNING",
        **env,
    }
    with service_process(server_env, work_dir / f"{name}.log") as process:
        yield process


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """boto3 reads credentials from the environment when a client is made; restore it afterwards."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
