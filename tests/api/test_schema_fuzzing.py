"""Schemathesis against the app's own OpenAPI schema, in process: no server errors, no response the schema denies."""

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from starlette.types import ASGIApp, Receive, Scope, Send

from image_processor.api import create_app
from image_processor.assembly import build_services
from image_processor.settings import Settings
from tests.conftest import CLIENT_IP

# Random bytes are rarely an image, so a schema-valid body may still be a 415: "positive data
# acceptance" cannot hold for uploads and is left out. Everything about the responses is checked.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


class _FromClientAddress:
    """Gives in-process requests a socket peer, as uvicorn and API Gateway do."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = {**scope, "client": (CLIENT_IP, 50000)}
        await self.app(scope, receive, send)


@pytest.fixture
def api_schema(settings: Settings) -> Any:
    services = build_services(settings.model_copy(update={"rate_limit_requests": 10_000}))
    app = create_app(services)
    schema = schemathesis.openapi.from_asgi("/openapi.json", _FromClientAddress(app))
    services.storage.start()
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.slow  # hypothesis drives each operation through 40 generated requests
@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_honours_its_schema(case: Any) -> None:
    case.call_and_validate(checks=CHECKS)
