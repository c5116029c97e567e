"""The execution environment the harness gives a packaged function holds as Lambda's does."""

import dataclasses
import errno

import pytest

from tests.support.lambda_runtime.deployment import Deployment
from tests.support.lambda_runtime.sandbox import DRIVER, ExecutionEnvironment
from tools.build_lambda import AWS_SDK, read_lock

# The first test of a session also builds the zips and applies Terraform (minutes on a cold build).
pytestmark = pytest.mark.timeout(900)


def test_only_the_temporary_folder_is_writable(api: ExecutionEnvironment) -> None:
    assert api.probe_write(api.task_root / "app.py") == {"file": errno.EROFS, "folder": errno.EROFS}
    assert api.probe_write(api.task_root.parent / "outside") == {"file": errno.EROFS, "folder": errno.EROFS}
    assert api.probe_write(api.tmp / "scratch") == {"file": 0, "folder": 0}
    assert (api.tmp / "scratch").read_text() == "probe"


def test_the_functions_run_the_aws_sdk_their_zip_ships_at_the_locked_versions(
    api: ExecutionEnvironment, worker: ExecutionEnvironment
) -> None:
    """The runtime's boto3 varies by runtime version and Region; the zip's copy must shadow it."""
    locked = {entry.name: entry.text.split("==", 1)[1].split()[0] for entry in read_lock()}
    for environment in (api, worker):
        for module in ("boto3", "botocore"):  # what the cold start imports (s3transfer comes later)
            origin = environment.origins.get(module)
            assert origin is not None and origin.startswith(str(environment.task_root)), (module, origin)
        for package in sorted(AWS_SDK):
            module = package.replace("-", "_")
            shipped = {path.name for path in environment.task_root.glob(f"{module}-*.dist-info")}
            assert shipped == {f"{module}-{locked[package]}.dist-info"}, (package, shipped)


def test_the_handler_sees_its_package_and_the_runtime_only(
    api: ExecutionEnvironment, worker: ExecutionEnvironment
) -> None:
    """Nothing is imported from the repository or the test virtualenv: only the zips and the runtime's boto3."""
    for environment in (api, worker):
        assert "app" in environment.modules
        assert "pytest" not in environment.modules
        assert "tests" not in environment.modules
        allowed = (str(environment.task_root.parent), str(DRIVER), *environment.base_path)
        strays = {
            name: origin
            for name, origin in environment.origins.items()
            if origin is not None and not origin.startswith(allowed)
        }
        assert strays == {}


def test_the_functions_run_with_the_deployed_configuration(
    deployment: Deployment, api: ExecutionEnvironment, worker: ExecutionEnvironment
) -> None:
    assert deployment.api.handler == deployment.worker.handler == "app.handler"
    for environment, deployed in ((api, deployment.api), (worker, deployment.worker)):
        # The API's environment adds API_KEYS (an operator's setting, see conftest.py) to what is deployed.
        assert dataclasses.replace(environment.function, environment=deployed.environment) == deployed
        assert deployed.environment, "the deployed function has no environment"
        given = {name: environment.environment[name] for name in deployed.environment}
        assert given == deployed.environment
        assert environment.environment["AWS_ENDPOINT_URL"] == deployment.endpoint


def test_the_worker_does_not_import_the_web_framework(worker: ExecutionEnvironment) -> None:
    """Cold start (issue point 9): the smart-crop worker's import leaves FastAPI, Starlette and Mangum out."""
    web = {name for name in worker.modules if name.split(".")[0] in {"fastapi", "starlette", "mangum", "uvicorn"}}
    assert web == set()


def test_neither_function_imports_what_only_an_unused_option_needs(
    api: ExecutionEnvironment, worker: ExecutionEnvironment
) -> None:
    """Cold start: the HTTP AI client (httpx) is imported only with AI_BACKEND=http, and pillow-heif
    (its own libheif) only when an upload needs Pillow's HEVC decoder."""
    for environment in (api, worker):
        assert environment.environment.get("AI_BACKEND", "mock") == "mock"
        optional = {"httpx", "pillow_heif", "image_processor.jobs.locator_http"}
        assert {name for name in environment.modules if name in optional or name.split(".")[0] in optional} == set()
