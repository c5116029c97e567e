import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from fastapi.testclient import TestClient

from image_processor.api import create_app
from image_processor.assembly import build_services
from image_processor.services import Services
from image_processor.settings import Settings
from tools.local_tables import create_tables
from tools.processes import running_emulator

CLIENT_IP = "203.0.113.10"
# Folders whose every test starts processes, a browser or a deployment: slow, so `make test-fast` leaves them
# out. Elsewhere a test is marked `slow` by hand (a Terraform apply, the bench's smoke run).
SLOW_FOLDERS = frozenset({"lambda_runtime", "browser", "stress"})
_TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.relative_to(_TESTS).parts[0] in SLOW_FOLDERS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def _local_aws_credentials() -> None:
    # Dummy credentials for the emulator: nothing in the suite talks to real AWS.
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        os.environ[name] = value


@pytest.fixture(scope="session", autouse=True)
def _test_client_host() -> None:
    # Starlette's TestClient sends `Host: testserver`; the service answers only for ALLOWED_HOSTS.
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1,[::1]")


@pytest.fixture(scope="session")
def aws_endpoint() -> Iterator[str]:
    with running_emulator() as url:
        yield url


@pytest.fixture
def dynamodb(aws_endpoint: str) -> object:
    return boto3.client("dynamodb", endpoint_url=aws_endpoint, region_name="us-east-1")


@pytest.fixture
def table_names(dynamodb: object) -> dict[str, str]:
    """Fresh tables for each test, so rate-limit and job state never leak between tests."""
    suffix = uuid.uuid4().hex[:8]
    names = {role: f"test-{role}-{suffix}" for role in ("rate_limit", "jobs", "idempotency", "catalog")}
    create_tables(dynamodb, names)
    return names


@pytest.fixture
def service_env(tmp_path: Path, aws_endpoint: str, table_names: dict[str, str]) -> dict[str, str]:
    """The environment of local_server.py run as a process (tools.processes.service_process) on the emulator."""
    return {
        "PROCESSED_IMAGES_DIR": str(tmp_path / "processed_images"),
        "AWS_ENDPOINT_URL": aws_endpoint,
        "RATE_LIMIT_TABLE": table_names["rate_limit"],
        "JOBS_TABLE": table_names["jobs"],
        "IDEMPOTENCY_TABLE": table_names["idempotency"],
        "CATALOG_TABLE": table_names["catalog"],
        "MOCK_AI_LATENCY_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def s3_bucket(aws_endpoint: str) -> str:
    """A fresh bucket in the emulator for each test."""
    name = f"test-images-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=aws_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture
def storage_backend() -> str:
    """The image store the `settings` fixture selects; test packages that run on both override this."""
    return "filesystem"


@pytest.fixture
def storage_settings(request: pytest.FixtureRequest, storage_backend: str) -> dict[str, object]:
    if storage_backend == "s3":
        return {"storage_backend": "s3", "s3_bucket": request.getfixturevalue("s3_bucket")}
    return {"storage_backend": "filesystem"}


@pytest.fixture
def settings(
    tmp_path: object, aws_endpoint: str, table_names: dict[str, str], storage_settings: dict[str, object]
) -> Settings:
    return Settings(
        **storage_settings,  # type: ignore[arg-type]
        processed_images_dir=tmp_path / "processed_images",  # type: ignore[operator]
        aws_endpoint_url=aws_endpoint,
        rate_limit_table=table_names["rate_limit"],
        jobs_table=table_names["jobs"],
        idempotency_table=table_names["idempotency"],
        catalog_table=table_names["catalog"],
        mock_ai_latency_seconds=0,
        image_concurrency=2,
    )


@pytest.fixture
def services(settings: Settings) -> Services:
    return build_services(settings)


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services), client=(CLIENT_IP, 50000)) as test_client:
        yield test_client
