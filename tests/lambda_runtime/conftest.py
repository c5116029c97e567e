"""One deployment of terraform/ to a moto server of its own, and one warm execution environment per function.

Session-scoped: building, applying and starting each function once keeps this part of the suite
within about a minute. Each test that needs the end-to-end run asks for `journey`, which runs once.
"""

import dataclasses
import socket
from collections.abc import Iterator

import pytest

from tests.support.lambda_runtime.deployment import Deployment, build_artifacts, deploy
from tests.support.lambda_runtime.gateway import Gateway
from tests.support.lambda_runtime.journey import API_KEY, WEBHOOK_SECRET, Journey, run_journey
from tests.support.lambda_runtime.sandbox import ExecutionEnvironment, execution_environment
from tests.support.lambda_runtime.xray import XRayDaemon, xray_daemon
from tests.support.receiver import Receiver, running_receiver
from tests.support.terraform import TERRAFORM, initialised
from tools.processes import running_emulator


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    if TERRAFORM is None:
        pytest.skip("Terraform is not installed, so the stack cannot be deployed to the emulator")
    build_artifacts()
    with running_emulator() as endpoint:
        yield deploy(initialised(tmp_path_factory.mktemp("lambda-terraform")), endpoint)


@pytest.fixture(scope="session")
def api_traces() -> Iterator[XRayDaemon]:
    with xray_daemon() as daemon:
        yield daemon


@pytest.fixture(scope="session")
def worker_traces() -> Iterator[XRayDaemon]:
    with xray_daemon() as daemon:
        yield daemon


@pytest.fixture(scope="session")
def webhook_receiver() -> Iterator[Receiver]:
    """A callback_url target on loopback (answering 204 unless a scenario queues other statuses)."""
    with running_receiver() as receiver:
        yield receiver


def with_webhooks(environment: dict[str, str], receiver: Receiver) -> dict[str, str]:
    """What Terraform's webhook_url_prefixes and webhook_secret set on both functions, for the receiver."""
    return {**environment, "WEBHOOK_URL_PREFIXES": receiver.url, "WEBHOOK_SECRET": WEBHOOK_SECRET}


@pytest.fixture(scope="session")
def api(
    deployment: Deployment,
    tmp_path_factory: pytest.TempPathFactory,
    api_traces: XRayDaemon,
    webhook_receiver: Receiver,
) -> Iterator[ExecutionEnvironment]:
    root = tmp_path_factory.mktemp("api")
    # The operator sets API_KEYS on the function (DELETE always needs a key); every journey request sends it.
    environment = with_webhooks({**deployment.api.environment, "API_KEYS": API_KEY}, webhook_receiver)
    function = dataclasses.replace(deployment.api, environment=environment)
    with execution_environment(function, root, endpoint=deployment.endpoint, xray_daemon=api_traces.address) as env:
        yield env


@pytest.fixture(scope="session")
def worker(
    deployment: Deployment,
    tmp_path_factory: pytest.TempPathFactory,
    worker_traces: XRayDaemon,
    webhook_receiver: Receiver,
) -> Iterator[ExecutionEnvironment]:
    root = tmp_path_factory.mktemp("worker")
    address = worker_traces.address
    function = dataclasses.replace(
        deployment.worker, environment=with_webhooks(deployment.worker.environment, webhook_receiver)
    )
    with execution_environment(function, root, endpoint=deployment.endpoint, xray_daemon=address) as env:
        yield env


@pytest.fixture(scope="session")
def silent_ai_url() -> Iterator[str]:
    """An AI service that never answers: a loopback socket whose connections the kernel accepts and no one reads."""
    with socket.create_server(("127.0.0.1", 0), backlog=32) as listening:
        yield f"http://127.0.0.1:{listening.getsockname()[1]}/locate"


@pytest.fixture(scope="session")
def silent_ai_worker(
    deployment: Deployment, silent_ai_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ExecutionEnvironment]:
    """The deployed worker with the AI settings Terraform passes for an ai_service_url, aimed at `silent_ai_url`."""
    environment = {
        **deployment.worker.environment,
        "AI_BACKEND": "http",
        "AI_SERVICE_URL": silent_ai_url,
        "AI_TIMEOUT_SECONDS": "1",
        "AI_MAX_ATTEMPTS": "1",
    }
    function = dataclasses.replace(deployment.worker, environment=environment)
    root = tmp_path_factory.mktemp("silent-ai-worker")
    with execution_environment(function, root, endpoint=deployment.endpoint) as env:
        yield env


@pytest.fixture(scope="session")
def gateway(api: ExecutionEnvironment, deployment: Deployment) -> Gateway:
    return Gateway(
        api,
        stage=deployment.stage,
        binary_media_types=deployment.binary_media_types,
        gateway_responses=deployment.gateway_responses,
    )


@pytest.fixture(scope="session")
def journey(
    deployment: Deployment,
    gateway: Gateway,
    api: ExecutionEnvironment,
    worker: ExecutionEnvironment,
    silent_ai_worker: ExecutionEnvironment,
    webhook_receiver: Receiver,
) -> Journey:
    return run_journey(deployment, gateway, api, worker, silent_ai_worker, webhook_receiver)
