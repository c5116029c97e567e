"""Fixtures for the Lambda handlers: recorded API Gateway events, a Lambda context and the
environment a deployed function gets from Terraform, aimed at the moto server."""

import copy
import io
import json
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import boto3
import httpx
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.api import app as api_app
from functions.smart_crop_worker import app as worker_app
from image_processor.aws import clients as aws
from image_processor.settings import Settings, get_settings

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"


@dataclass
class FakeLambdaContext:
    function_name: str = "product-image-processor-smart-crop-worker"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1536
    invoked_function_arn: str = (
        "arn:aws:lambda:us-east-1:123456789012:function:product-image-processor-smart-crop-worker"
    )
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/product-image-processor-smart-crop-worker"
    log_stream_name: str = "2026/11/28/[$LATEST]0123456789abcdef"
    remaining_millis: int = 120_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


def lambda_context(**overrides: Any) -> LambdaContext:
    return cast(LambdaContext, FakeLambdaContext(**overrides))


def load_event(name: str, **overrides: Any) -> dict[str, Any]:
    """A recorded API Gateway REST proxy event from tests/events, with top-level keys replaced."""
    event: dict[str, Any] = json.loads((EVENTS_DIR / f"{name}.json").read_text())
    return {**event, **copy.deepcopy(overrides)}


def with_source_ip(event: dict[str, Any], source_ip: str) -> dict[str, Any]:
    event = copy.deepcopy(event)
    event["requestContext"]["identity"]["sourceIp"] = source_ip
    return event


def with_path(event: dict[str, Any], path: str) -> dict[str, Any]:
    """The event API Gateway sends for a request to `path` under the execute-api URL (after the stage)."""
    event = copy.deepcopy(event)
    event["path"] = path
    event["pathParameters"] = {"proxy": path.lstrip("/")}
    event["requestContext"]["path"] = f"/{event['requestContext']['stage']}{path}"
    return event


def following(event: dict[str, Any], url: str) -> dict[str, Any]:
    """The event for a client following a link the API returned (`url` as given, stage included)."""
    stage_prefix = f"/{event['requestContext']['stage']}"
    if event["requestContext"].get("domainName", "").endswith(".amazonaws.com"):
        assert url.startswith(f"{stage_prefix}/"), f"{url} lost the stage"
        return with_path(event, url.removeprefix(stage_prefix))
    event = with_path(event, url)
    event["requestContext"]["path"] = url
    return event


def on_custom_domain(event: dict[str, Any], domain: str = "images.example.com", base_path: str = "") -> dict[str, Any]:
    """The same request through a custom domain mapped to the stage, under `base_path` if given. API Gateway
    then strips the stage but keeps the base path, in `path` as in `requestContext.path`; `resource` and
    `pathParameters` stay the route inside the API."""
    event = copy.deepcopy(event)
    if base_path:
        event["path"] = f"/{base_path}{event['path']}"
    event["requestContext"]["path"] = event["path"]
    event["requestContext"]["domainName"] = domain
    event["headers"]["Host"] = domain
    event["multiValueHeaders"]["Host"] = [domain]
    return event


@pytest.fixture
def worker_function(aws_endpoint: str) -> str:
    """A worker function in moto's Lambda (without Docker, so invoking it records nothing and runs nothing)."""
    httpx.post(f"{aws_endpoint}/moto-api/config", json={"lambda": {"use_docker": False}}).raise_for_status()
    iam = boto3.client("iam", endpoint_url=aws_endpoint, region_name="us-east-1")
    name = f"test-worker-{uuid.uuid4().hex[:8]}"
    role = iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )
    boto3.client("lambda", endpoint_url=aws_endpoint, region_name="us-east-1").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="app.handler",
        Code={"ZipFile": _placeholder_zip()},
    )
    return name


def _placeholder_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


@pytest.fixture
def lambda_settings(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    aws_endpoint: str,
    table_names: dict[str, str],
    worker_function: str,
) -> Iterator[Settings]:
    """The environment lambda.tf gives both functions; the handlers' cached builders are reset around each test."""
    environment = {
        "DISPATCHER": "lambda",
        "WORKER_FUNCTION_NAME": worker_function,
        "RATE_LIMIT_TABLE": table_names["rate_limit"],
        "JOBS_TABLE": table_names["jobs"],
        "IDEMPOTENCY_TABLE": table_names["idempotency"],
        "CATALOG_TABLE": table_names["catalog"],
        "PROCESSED_IMAGES_DIR": str(tmp_path / "processed_images"),
        "AWS_ENDPOINT_URL": aws_endpoint,
        "MOCK_AI_LATENCY_SECONDS": "0",
        "RATE_LIMIT_REQUESTS": "3",
        "LOG_LEVEL": "WARNING",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    _clear_caches()
    yield get_settings()
    _clear_caches()


def _clear_caches() -> None:
    get_settings.cache_clear()
    api_app._asgi_handler.cache_clear()
    worker_app._runtime.cache_clear()


@dataclass
class RecordedInvoke:
    function_name: str
    invocation_type: str
    payload: bytes
    status_code: int


@pytest.fixture
def worker_invokes(monkeypatch: pytest.MonkeyPatch) -> list[RecordedInvoke]:
    """Every Lambda Invoke the API function makes, observed on the real boto3 client on its way to moto."""
    recorded: list[RecordedInvoke] = []
    real_client: Any = aws.client

    def observed_client(service: str, settings: Settings) -> Any:
        client = real_client(service, settings)
        client.meta.events.register("before-parameter-build.lambda.Invoke", _remember_params)
        client.meta.events.register("after-call.lambda.Invoke", _record_into(recorded))
        return client

    monkeypatch.setattr(aws, "client", observed_client)
    return recorded


def _remember_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context["invoke_params"] = dict(params)


def _record_into(recorded: list[RecordedInvoke]) -> Callable[..., None]:
    def record(http_response: Any, context: dict[str, Any], **_: Any) -> None:
        params = context["invoke_params"]
        recorded.append(
            RecordedInvoke(
                function_name=params["FunctionName"],
                invocation_type=params.get("InvocationType", "RequestResponse"),
                payload=params["Payload"],
                status_code=http_response.status_code,
            )
        )

    return record
