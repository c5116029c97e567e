"""The packaged functions, deployed by terraform/, serve a client end to end through API Gateway events."""

import pytest

from tests.support.lambda_runtime.journey import SCENARIOS, Journey

# The first test of a session also builds the zips and applies Terraform (minutes on a cold build).
pytestmark = pytest.mark.timeout(900)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_scenario(journey: Journey, scenario: str) -> None:
    journey.check(scenario)
