"""The packaged functions, deployed by terraform/, serve a client end to end through API Gateway events."""

import pytest

from tests.support.lambda_runtime.journey import SCENARIOS, Journey

# The first test of a session also builds the zips and applies Terraform (minutes on a cold build).
pytestmark = pytest.mark.timeout(900)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_scenario(journey: Journey, scenario: str) -> None:
    journey.check(scenario)


@pytest.mark.parametrize("function", ["api", "worker"])
def test_each_function_stays_within_its_deployed_memory(journey: Journey, function: str) -> None:
    """Lambda stops an environment that outgrows its MemorySize; the journey's peak (12 MP photos
    included) must leave room under it."""
    journey.check("phone photo")
    environment = journey.api if function == "api" else journey.worker
    peak = max(invocation.max_rss_mb for invocation in environment.invocations)
    assert peak < environment.function.memory_mb * 0.8, (
        f"{function}: peak {peak:.0f} MB of {environment.function.memory_mb}"
    )
