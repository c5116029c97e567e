"""`make deploy` keeps one Terraform state per endpoint kind and says when the emulator cannot run functions."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tools.deploy_target import deploy_target
from tools.processes import free_port, running_emulator


def test_no_endpoint_is_aws() -> None:
    target = deploy_target("")

    assert (target.workspace, target.runs_functions, target.warning) == ("aws", True, None)


def test_moto_gets_its_own_workspace_and_a_warning_that_nothing_will_run() -> None:
    """Issue 10: deploying next to `make run` ended in an API URL that answered a 500 HTML page."""
    with running_emulator() as url:
        target = deploy_target(url)

    assert target.workspace == "emulator"
    assert target.runs_functions is False
    assert target.warning is not None
    assert "cannot run Lambda functions" in target.warning
    assert "make up" in target.warning


def _health_server(services: dict[str, str]) -> Iterator[str]:
    body = json.dumps({"services": services, "edition": "community"}).encode()

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path == "/_localstack/health"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body if found else b"{}")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def localstack() -> Iterator[str]:
    yield from _health_server({"lambda": "available", "s3": "running", "apigateway": "available"})


@pytest.fixture
def localstack_without_lambda() -> Iterator[str]:
    yield from _health_server({"lambda": "disabled", "s3": "running", "apigateway": "available"})


def test_localstack_is_recognised_by_its_health_endpoint(localstack: str) -> None:
    target = deploy_target(localstack)

    assert (target.workspace, target.runs_functions, target.warning) == ("localstack", True, None)


def test_localstack_without_lambda_is_named_before_deploying(localstack_without_lambda: str) -> None:
    target = deploy_target(localstack_without_lambda)

    assert target.workspace == "localstack"
    assert target.runs_functions is False
    assert target.warning is not None
    assert "lambda" in target.warning


def test_nothing_answering_stops_with_one_sentence() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(SystemExit, match=f"Nothing answers at {url}: start LocalStack first"):
        deploy_target(url)
