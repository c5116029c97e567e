"""Request ids and one JSON log line per request (audit 2: print, no request ids)."""

import ast
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from fastapi.testclient import TestClient

from image_processor.observability import SERVICE_NAME
from tests.support import images
from tests.support.apps import app_client, fresh_settings
from tests.support.uploads import manual_crop
from tools.processes import REPO_ROOT


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, aws_endpoint: str) -> Iterator[TestClient]:
    with app_client(fresh_settings(tmp_path_factory.mktemp("middleware"), aws_endpoint)) as test_client:
        yield test_client


def request_log_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The access-log records, formatted as the service writes them (Powertools JSON)."""
    formatter = LambdaPowertoolsFormatter(service=SERVICE_NAME)
    return [json.loads(formatter.format(record)) for record in caplog.records if record.getMessage() == "request"]


def test_a_request_id_is_generated_and_returned(client: TestClient) -> None:
    """Audit 2."""
    first = client.get("/health").headers["x-request-id"]
    second = client.get("/health").headers["x-request-id"]
    assert len(first) == 32
    assert first != second


def test_a_client_request_id_is_logged_beside_the_services_own_and_not_adopted(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 14: an id the client chooses could collide with or impersonate another request's in the logs."""
    caplog.clear()
    response = client.get("/health", headers={"X-Request-ID": "abc-123.4_5"})
    returned = response.headers["x-request-id"]
    assert returned != "abc-123.4_5"
    assert len(returned) == 32
    [line] = request_log_lines(caplog)
    assert line["request_id"] == returned
    assert line["client_request_id"] == "abc-123.4_5"


@pytest.mark.parametrize("supplied", ["", "has space", "x" * 129, 'quote"s', "new\\nline"])
def test_a_malformed_client_request_id_is_neither_used_nor_logged(
    client: TestClient, caplog: pytest.LogCaptureFixture, supplied: str
) -> None:
    caplog.clear()
    returned = client.get("/health", headers={"X-Request-ID": supplied}).headers["x-request-id"]
    assert returned != supplied
    assert len(returned) == 32
    [line] = request_log_lines(caplog)
    assert "client_request_id" not in line


def test_every_response_says_nosniff(client: TestClient) -> None:
    """Issue 14: browsers must not guess a content type from the bytes of any response."""
    created = manual_crop(client, images.solid_jpeg(), box={"x": 0, "y": 0, "width": 10, "height": 10})
    responses = [
        created,
        client.get(created.json()["retrieval_url"]),
        client.get("/health"),
        client.get("/openapi.json"),
        client.get("/no/such/thing"),
    ]
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff", response.request.url


def test_errors_are_not_stored_by_caches(client: TestClient) -> None:
    """Issue 14: an error (a 404 for an image that appears a moment later, say) must not be cached."""
    for response in (
        client.get("/images/ABC-123/0123456789abcdef0123456789abcdef.jpg"),
        client.get("/no/such/thing"),
        client.delete("/health"),
        manual_crop(client, b"not an image"),
    ):
        assert response.status_code >= 400
        assert response.headers["cache-control"] == "no-store", response.request.url


def test_the_access_log_line_carries_the_error_code(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 12: an operator can count errors by code from the access log alone."""
    caplog.clear()
    client.get("/no/such/thing")
    manual_crop(client, b"not an image")
    client.get("/health")
    codes = [(line["status"], line.get("code")) for line in request_log_lines(caplog)]
    assert codes == [(404, "not_found"), (415, "unsupported_image"), (200, None)]


def test_every_request_logs_one_json_line_with_its_id(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    """Audit 2: structured logs carrying the request id and client IP, not print()."""
    caplog.clear()
    response = manual_crop(client, images.solid_jpeg(), box={"x": 0, "y": 0, "width": 10, "height": 10})
    request_id = response.headers["x-request-id"]
    lines = request_log_lines(caplog)
    assert len(lines) == 1
    assert lines[0]["request_id"] == request_id
    assert lines[0]["status"] == 200
    assert lines[0]["path"] == "/images/manual-crop"
    assert lines[0]["client_ip"] == "203.0.113.10"
    assert lines[0]["level"] == "INFO"


def test_the_service_code_never_calls_print() -> None:
    """Audit 2: the prototype printed instead of logging."""
    sources = [
        *(REPO_ROOT / "layers" / "common" / "python").rglob("*.py"),
        *(REPO_ROOT / "functions").rglob("*.py"),
        REPO_ROOT / "local_server.py",
    ]
    offenders = [
        f"{Path(source).relative_to(REPO_ROOT)}:{node.lineno}"
        for source in sources
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"
    ]
    assert offenders == []


def test_upload_ids_are_redacted_from_access_log_paths(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    ticket = client.post("/uploads").json()
    caplog.clear()
    client.post(ticket["url"], data=ticket["fields"], files={"file": ("a.jpg", images.solid_jpeg(), "image/jpeg")})
    lines = request_log_lines(caplog)
    assert [line["path"] for line in lines] == ["/uploads/{upload_id}"]
    assert ticket["upload_id"] not in caplog.text
