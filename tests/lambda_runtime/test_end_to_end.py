"""The packaged functions, deployed by terraform/, serve a client end to end through API Gateway events."""

import pytest

from tests.support.lambda_runtime.journey import SCENARIOS, Journey


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_scenario(journey: Journey, scenario: str) -> None:
    journey.check(scenario)
