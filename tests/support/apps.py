"""Apps built from fresh settings, for fixtures wider than one test (building services costs ~0.3 s)."""

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
from fastapi.testclient import TestClient

from image_processor.api import create_app
from image_processor.assembly import build_services
from image_processor.settings import Settings
from tests.conftest import CLIENT_IP
from tools.local_tables import create_tables


def fresh_settings(base_dir: Path, aws_endpoint: str, **overrides: Any) -> Settings:
    """Settings like the `settings` fixture's: an empty storage root and new DynamoDB tables."""
    dynamodb = boto3.client("dynamodb", endpoint_url=aws_endpoint, region_name="us-east-1")
    suffix = uuid.uuid4().hex[:8]
    names = {role: f"test-{role}-{suffix}" for role in ("rate_limit", "jobs", "idempotency", "catalog")}
    create_tables(dynamodb, names)
    fields: dict[str, Any] = {
        "processed_images_dir": base_dir / "processed_images",
        "aws_endpoint_url": aws_endpoint,
        "rate_limit_table": names["rate_limit"],
        "jobs_table": names["jobs"],
        "idempotency_table": names["idempotency"],
        "catalog_table": names["catalog"],
        "mock_ai_latency_seconds": 0,
        "image_concurrency": 2,
    }
    return Settings(**(fields | overrides))


@contextlib.contextmanager
def app_client(settings: Settings, *, raise_server_exceptions: bool = True) -> Iterator[TestClient]:
    app = create_app(build_services(settings))
    with TestClient(app, client=(CLIENT_IP, 50000), raise_server_exceptions=raise_server_exceptions) as client:
        yield client


def files_under(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file() or path.is_symlink()}
