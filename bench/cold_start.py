"""Cold starts of the packaged Lambda functions: each handler's import, then its first invocation.

The stack is deployed to the emulator with Terraform and each function runs from its unpacked zip
in a fresh sandboxed interpreter, with the deployed environment, as the tests run it
(tests/support/lambda_runtime). The API's first event is GET /health; the worker's is a real
smart-crop job, accepted by a warm API beforehand (one job per cold start).
"""

import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import images
from tests.support.lambda_runtime.deployment import Deployment, build_artifacts, deploy
from tests.support.lambda_runtime.gateway import Gateway, rest_event
from tests.support.lambda_runtime.journey import async_event, crop_form
from tests.support.lambda_runtime.sandbox import DeployedFunction, execution_environment
from tests.support.terraform import TERRAFORM, initialised
from tools.processes import running_emulator

from .phases import say

# Targets on the benchmark machine (issue: cold start).
IMPORT_TARGETS_MS = {"api": 600.0, "worker": 250.0}


@dataclass(frozen=True)
class ColdStart:
    function: str
    runs: int
    import_ms: list[float]
    first_invocation_ms: list[float]
    # What the first invocation answered (status code, or the error), per run.
    outcomes: list[str]

    @property
    def import_p50_ms(self) -> float:
        return statistics.median(self.import_ms)

    @property
    def first_invocation_p50_ms(self) -> float:
        return statistics.median(self.first_invocation_ms)

    @property
    def import_target_ms(self) -> float:
        return IMPORT_TARGETS_MS[self.function]


def measure_cold_starts(runs: int = 5) -> list[ColdStart]:
    if TERRAFORM is None:
        say("Lambda cold starts: skipped, Terraform is not installed (the functions are deployed with it)")
        return []
    say("Lambda cold starts: make package, deploy to the emulator")
    build_artifacts()
    with tempfile.TemporaryDirectory(prefix="bench-lambda-") as scratch, running_emulator() as endpoint:
        root = Path(scratch)
        deployment = deploy(initialised(root / "deploy"), endpoint)
        say(f"Lambda cold starts: {runs} of each function")
        health = rest_event("GET", "/health", stage=deployment.stage)
        api = _cold_starts("api", deployment, deployment.api, root / "api", [health] * runs)
        jobs = _smart_crop_jobs(deployment, root / "warm-api", runs)
        worker = _cold_starts("worker", deployment, deployment.worker, root / "worker", jobs)
    return [api, worker]


def _cold_starts(
    name: str, deployment: Deployment, function: DeployedFunction, root: Path, first_events: list[dict[str, Any]]
) -> ColdStart:
    imports, firsts, outcomes = [], [], []
    for index, first_event in enumerate(first_events):
        with execution_environment(function, root / str(index), endpoint=deployment.endpoint) as environment:
            invocation = environment.invoke(first_event)
            imports.append(environment.import_ms)
            firsts.append(invocation.duration_ms)
            result = invocation.result or {}
            outcomes.append(invocation.error or str(result.get("statusCode", "ok")))
    return ColdStart(name, len(first_events), imports, firsts, outcomes)


def _smart_crop_jobs(deployment: Deployment, root: Path, count: int) -> list[dict[str, Any]]:
    """Worker events: the asynchronous invocations a warm API makes for `count` accepted smart crops."""
    upload = images.solid_jpeg(800, 600)
    with execution_environment(deployment.api, root, endpoint=deployment.endpoint) as api:
        gateway = Gateway(
            api,
            stage=deployment.stage,
            binary_media_types=deployment.binary_media_types,
            gateway_responses=deployment.gateway_responses,
        )
        for index in range(count):
            headers, body = crop_form(f"BENCH-COLD-{index}", box=None, source={"bytes": upload})
            response = gateway.request("POST", "/images/smart-crop", headers=headers, body=body)
            if response.status != 202:
                raise RuntimeError(f"the API did not accept a smart crop: {response.describe()}")
        return [
            async_event(call["params"])
            for call in api.calls()
            if call["service"] == "lambda" and call["operation"] == "Invoke"
        ]
