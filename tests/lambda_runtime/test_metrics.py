"""The packaged functions, configured as terraform/ deploys them, print EMF lines (their metrics on
Lambda) with the service's metric names, in the deployed namespace."""

import pytest

from tests.support.emf import emf_metrics
from tests.support.lambda_runtime.journey import Journey

# The first test of a session also builds the zips and applies Terraform (minutes on a cold build).
pytestmark = pytest.mark.timeout(900)


def test_the_api_function_prints_its_crops_and_its_cold_start(journey: Journey) -> None:
    journey.check("manual crop")
    environment = journey.api
    metrics = emf_metrics(environment.log.read_text(errors="replace"))
    service = ("service", environment.function.environment["POWERTOOLS_SERVICE_NAME"])

    assert set(metrics.values()) == {environment.function.environment["POWERTOOLS_METRICS_NAMESPACE"]}
    assert ("Crops", "Count", (("kind", "manual"), ("outcome", "succeeded"), service)) in metrics
    assert ("ColdStart", "Count", (("function_name", environment.function.name), service)) in metrics


def test_the_worker_prints_each_jobs_end_its_duration_and_its_ai_call(journey: Journey) -> None:
    journey.check("smart crop")
    environment = journey.worker
    metrics = emf_metrics(environment.log.read_text(errors="replace"))
    service = ("service", environment.function.environment["POWERTOOLS_SERVICE_NAME"])
    succeeded = (("outcome", "succeeded"), service)

    assert set(metrics.values()) == {environment.function.environment["POWERTOOLS_METRICS_NAMESPACE"]}
    assert ("Crops", "Count", (("kind", "smart"), *succeeded)) in metrics
    assert ("JobDuration", "Seconds", succeeded) in metrics
    assert ("AiCallDuration", "Seconds", succeeded) in metrics
    assert ("ColdStart", "Count", (("function_name", environment.function.name), service)) in metrics
