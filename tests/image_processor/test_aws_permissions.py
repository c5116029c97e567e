"""A permission error from AWS is a misconfiguration: a 503 logged with its action and resource, a failed
readiness, and never "not found" (issue 19: AccessDenied read as a missing image behind a green /ready).

The refusals come over the wire from a loopback server that answers every request as S3 and DynamoDB
answer a role without the grant (moto does not evaluate IAM).
"""

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from image_processor.api import create_app
from image_processor.assembly import build_services, build_storage
from image_processor.errors import DependencyUnavailable
from image_processor.settings import Settings

S3_ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Access Denied</Message><RequestId>R</RequestId></Error>"
)
DYNAMODB_ACCESS_DENIED = json.dumps(
    {"__type": "com.amazon.coral.service#AccessDeniedException", "message": "not authorized to perform"}
).encode()


class Refusing(BaseHTTPRequestHandler):
    def _refuse(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        dynamodb = "DynamoDB" in (self.headers.get("X-Amz-Target") or "")
        body = DYNAMODB_ACCESS_DENIED if dynamodb else S3_ACCESS_DENIED
        self.send_response(400 if dynamodb else 403)
        self.send_header("Content-Type", "application/x-amz-json-1.0" if dynamodb else "application/xml")
        self.send_header("Content-Length", "0" if self.command == "HEAD" else str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _refuse  # noqa: N815 (http.server's names)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def refusing_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def refused_settings(refusing_endpoint: str, tmp_path: Path) -> Settings:
    return Settings(
        storage_backend="s3",
        s3_bucket="images",
        processed_images_dir=tmp_path,
        aws_endpoint_url=refusing_endpoint,
        dispatcher="lambda",  # as deployed; the local dispatcher would list the staging folder at start-up
        mock_ai_latency_seconds=0,
    )


def logged_refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if "misconfigured permissions" in record.getMessage()]


def test_an_access_denied_read_is_unavailable_not_missing(
    refused_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    storage = build_storage(refused_settings)

    for read in (storage.results.stat, storage.results.fetch):
        with pytest.raises(DependencyUnavailable):
            read("ABC-1/abc.jpg")
    with pytest.raises(DependencyUnavailable):
        storage.check_ready()

    refused = logged_refusals(caplog)
    assert getattr(refused[0], "action", None) == "s3:GetObject"  # a HEAD is authorised as s3:GetObject
    assert getattr(refused[0], "resource", None) == "arn:aws:s3:::images/ABC-1/abc.jpg"
    assert refused[0].levelno == logging.ERROR


def test_the_api_answers_503_and_is_not_ready_when_aws_refuses(
    refused_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(create_app(build_services(refused_settings))) as client:
        image = client.get("/images/ABC-1/abc.jpg")
        ready = client.get("/ready")

    assert image.status_code == 503, image.text
    assert image.json()["error"]["code"]
    assert ready.status_code == 503
    actions = {getattr(record, "action", None) for record in logged_refusals(caplog)}
    assert {"s3:GetObject", "dynamodb:GetItem"} <= actions


def test_a_missing_key_is_still_not_found(settings: Settings) -> None:
    """With s3:ListBucket (both roles have it), S3 answers a missing key 404, which stays "not there"."""
    storage = build_storage(settings)
    assert storage.results.stat("ABC-1/missing.jpg") is None
    assert storage.results.fetch("ABC-1/missing.jpg") is None
    storage.check_ready()


@pytest.fixture
def storage_backend() -> str:
    return "s3"
