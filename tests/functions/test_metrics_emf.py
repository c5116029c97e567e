"""On Lambda (METRICS_BACKEND=emf) the handlers print CloudWatch embedded-metric-format lines: the same
names as GET /metrics, in one namespace with the `service` dimension, beside Powertools' ColdStart."""

import json
from collections.abc import Iterator

import pytest
from aws_lambda_powertools.metrics.provider import cold_start

from functions.api import app as api_app
from functions.api.app import handler as api_handler
from functions.smart_crop_worker import app as worker_app
from functions.smart_crop_worker.app import handler as worker_handler
from image_processor.observability import DEFAULT_METRICS_NAMESPACE
from image_processor.settings import Settings, get_settings
from tests.functions.conftest import RecordedInvoke, lambda_context, load_event
from tests.support.emf import emf_metrics

SERVICE = ("service", "product-image-processor")
API_FUNCTION = "product-image-processor-api"


@pytest.fixture
def emf(lambda_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The EMF backend as lambda.tf configures it, and a fresh execution environment (a cold start)."""
    monkeypatch.setenv("METRICS_BACKEND", "emf")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", SERVICE[1])
    monkeypatch.setattr(cold_start, "is_cold_start", True)
    _clear_caches()
    yield
    _clear_caches()


def _clear_caches() -> None:
    get_settings.cache_clear()
    api_app._asgi_handler.cache_clear()
    worker_app._runtime.cache_clear()


@pytest.mark.usefixtures("emf")
def test_the_api_handler_prints_the_crop_and_its_cold_start(capsys: pytest.CaptureFixture[str]) -> None:
    response = api_handler(load_event("manual_crop"), lambda_context(function_name=API_FUNCTION))
    assert response["statusCode"] == 200, response

    metrics = emf_metrics(capsys.readouterr().out)

    assert set(metrics.values()) == {DEFAULT_METRICS_NAMESPACE}
    assert ("Crops", "Count", (("kind", "manual"), ("outcome", "succeeded"), SERVICE)) in metrics
    assert [key for key in metrics if key[0] == "ColdStart"] == [
        ("ColdStart", "Count", (("function_name", API_FUNCTION), SERVICE))
    ]


@pytest.mark.usefixtures("emf")
def test_the_worker_handler_prints_the_jobs_end_its_duration_and_its_ai_call(
    worker_invokes: list[RecordedInvoke], capsys: pytest.CaptureFixture[str]
) -> None:
    response = api_handler(load_event("smart_crop"), lambda_context(function_name=API_FUNCTION))
    assert response["statusCode"] == 202, response
    [call] = worker_invokes
    capsys.readouterr()

    assert worker_handler(json.loads(call.payload), lambda_context())["status"] == "succeeded"

    metrics = emf_metrics(capsys.readouterr().out)
    succeeded = (("outcome", "succeeded"), SERVICE)
    assert ("JobDuration", "Seconds", succeeded) in metrics
    assert ("AiCallDuration", "Seconds", succeeded) in metrics
    assert ("Crops", "Count", (("kind", "smart"), *succeeded)) in metrics
