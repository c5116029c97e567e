"""On Lambda (METRICS_BACKEND=emf) the handlers print CloudWatch embedded-metric-format lines: the same
names as GET /metrics, in one namespace with the `service` dimension, beside Powertools' ColdStart."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.metrics.provider import cold_start

from functions.api import app as api_app
from functions.api.app import handler as api_handler
from functions.smart_crop_worker import app as worker_app
from functions.smart_crop_worker.app import handler as worker_handler
from image_processor.observability import DEFAULT_METRICS_NAMESPACE
from image_processor.settings import Settings, get_settings
from tests.functions.conftest import RecordedInvoke, lambda_context, load_event

SERVICE = "product-image-processor"


@pytest.fixture
def emf(lambda_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The EMF backend as lambda.tf configures it, and a fresh execution environment (a cold start)."""
    monkeypatch.setenv("METRICS_BACKEND", "emf")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", SERVICE)
    monkeypatch.setattr(cold_start, "is_cold_start", True)
    _clear_caches()
    yield
    _clear_caches()


def _clear_caches() -> None:
    get_settings.cache_clear()
    api_app._asgi_handler.cache_clear()
    worker_app._runtime.cache_clear()


def emf_lines(printed: str) -> list[dict[str, Any]]:
    """Each EMF document printed, checked against the format's required shape."""
    documents = []
    for line in printed.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        document = json.loads(line)
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert isinstance(document["_aws"]["Timestamp"], int)
        for metric in directive["Metrics"]:
            assert metric["Name"] in document, "a metric without its value"
        for dimension_set in directive["Dimensions"]:
            assert all(name in document for name in dimension_set), "a dimension without its value"
        documents.append(document)
    return documents


def metric(document: dict[str, Any]) -> tuple[str, str, dict[str, str]]:
    """(name, unit, dimensions) of a single-metric document."""
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    (definition,) = directive["Metrics"]
    (names,) = directive["Dimensions"]
    return definition["Name"], definition["Unit"], {name: document[name] for name in names}


@pytest.mark.usefixtures("emf")
def test_the_api_handler_prints_the_crop_and_its_cold_start(capsys: pytest.CaptureFixture[str]) -> None:
    context = lambda_context(function_name="product-image-processor-api")
    response = api_handler(load_event("manual_crop"), context)
    assert response["statusCode"] == 200, response

    documents = emf_lines(capsys.readouterr().out)

    assert {document["_aws"]["CloudWatchMetrics"][0]["Namespace"] for document in documents} == {
        DEFAULT_METRICS_NAMESPACE
    }
    metrics = [metric(document) for document in documents]
    assert ("Crops", "Count", {"service": SERVICE, "kind": "manual", "outcome": "succeeded"}) in metrics
    cold = [m for m in metrics if m[0] == "ColdStart"]
    assert cold == [("ColdStart", "Count", {"function_name": "product-image-processor-api", "service": SERVICE})]


@pytest.mark.usefixtures("emf")
def test_the_worker_handler_prints_the_jobs_end_its_duration_and_its_ai_call(
    worker_invokes: list[RecordedInvoke], capsys: pytest.CaptureFixture[str]
) -> None:
    response = api_handler(load_event("smart_crop"), lambda_context(function_name="product-image-processor-api"))
    assert response["statusCode"] == 202, response
    [call] = worker_invokes
    capsys.readouterr()

    assert worker_handler(json.loads(call.payload), lambda_context())["status"] == "succeeded"

    metrics = {
        (name, tuple(sorted(dimensions.items()))): unit
        for name, unit, dimensions in map(metric, emf_lines(capsys.readouterr().out))
    }
    succeeded = (("outcome", "succeeded"), ("service", SERVICE))
    assert metrics[("JobDuration", succeeded)] == "Seconds"
    assert metrics[("AiCallDuration", succeeded)] == "Seconds"
    assert metrics[("Crops", (("kind", "smart"), *succeeded))] == "Count"
