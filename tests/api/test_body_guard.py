"""The request-body guard on a real uvicorn: the upload budget, the read deadline, and closing early answers."""

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from image_processor.api import create_app
from image_processor.api.middleware.body_guard import UploadBudget
from image_processor.assembly import build_services
from tests.support.apps import fresh_settings
from tests.support.live import serving

MAX_UPLOAD = 100_000
BUDGET = 150_000
_FILE_PART_HEAD = (
    b'--x\r\nContent-Disposition: form-data; name="source_image"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
)


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, aws_endpoint: str) -> Iterator[str]:
    settings = fresh_settings(
        tmp_path_factory.mktemp("guard"),
        aws_endpoint,
        max_upload_bytes=MAX_UPLOAD,
        upload_budget_bytes=BUDGET,
        body_read_timeout_seconds=1.0,
    )
    with serving(create_app(build_services(settings))) as base_url:
        yield base_url


def start_upload(url: str, declared: int, *, content_type: str = "multipart/form-data; boundary=x") -> socket.socket:
    """Headers and a first byte of a body that declares `declared` bytes; the rest never comes."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=10)
    sock.sendall(
        f"POST /images/manual-crop HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {declared}\r\n\r\n-".encode()
    )
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def post(url: str, content: bytes | Iterator[bytes]) -> httpx.Response:
    return httpx.post(
        f"{url}/images/manual-crop",
        content=content,
        headers={"Content-Type": "multipart/form-data; boundary=x"},
        timeout=10,
    )


def test_a_declared_length_reserves_nothing_until_bytes_arrive(url: str) -> None:
    """Issue 22: sockets declaring large bodies and sending nothing made every other upload a 503."""
    holders = [start_upload(url, 120_000) for _ in range(3)]
    try:
        response = post(url, b"-" * 40_000)
        assert response.status_code == 400, response.text  # read and judged (not multipart): not refused as busy
    finally:
        for holder in holders:
            holder.close()


def test_an_upload_past_the_budget_is_a_503_as_its_bytes_arrive() -> None:
    budget = UploadBudget(150_000, client_minimum_bytes=100_000)
    assert budget.try_reserve(100_000, "198.51.100.1")
    assert budget.try_reserve(40_000, "198.51.100.2")
    assert not budget.try_reserve(20_000, "198.51.100.3")
    budget.release(40_000, "198.51.100.2")
    assert budget.try_reserve(20_000, "198.51.100.3")


def test_one_client_address_holds_at_most_a_quarter_of_the_budget() -> None:
    assert UploadBudget(400_000, client_bytes=300_000).client_capacity_bytes == 300_000
    budget = UploadBudget(400_000, client_minimum_bytes=50_000)
    assert budget.try_reserve(100_000, "198.51.100.1")
    assert not budget.try_reserve(1, "198.51.100.1")
    assert budget.try_reserve(100_000, "198.51.100.2")
    budget.release(100_000, "198.51.100.1")
    assert budget.try_reserve(100_000, "198.51.100.1")


def test_a_chunked_body_is_a_411_before_any_chunk_is_read(url: str) -> None:
    """Issue 22: 1-byte chunks cost the event loop about 600 times more per byte than a sized body."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=10)
    try:
        sock.sendall(
            b"POST /images/manual-crop HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: multipart/form-data; boundary=x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n-\r\n"
        )
        answer = read_until_closed(sock)
    finally:
        sock.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 411 ")
    assert b'"code":"length_required"' in body


def test_the_budget_is_freed_when_a_request_ends(url: str) -> None:
    for _ in range(3):
        holder = start_upload(url, 120_000)
        holder.close()
        # Each holder's reservation is released, so the budget never fills.
        assert post(url, b"--x--\r\n").status_code == 422


def test_a_body_not_received_by_the_deadline_is_a_408_and_the_connection_closes(url: str) -> None:
    """Issue 14: uvicorn has no read timeout; a client sending a byte now and then held its connection forever."""
    sock = start_upload(url, 50_000)
    try:
        answer = read_until_closed(sock)
    finally:
        sock.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in head.lower()
    assert b'"code":"request_timeout"' in body


def test_an_answer_sent_before_the_body_was_read_closes_the_connection(url: str) -> None:
    """A 415 for a wrong Content-Type: the rest of that body would otherwise keep the connection (and its
    keep-alive timer, reset by every byte) alive."""
    sock = start_upload(url, 50_000, content_type="text/plain")
    try:
        answer = read_until_closed(sock)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 415 ")
    assert b"connection: close" in answer.lower()


def test_a_client_that_hangs_up_mid_upload_is_not_an_unhandled_error(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    sock = start_upload(url, 50_000)
    sock.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(r.getMessage() == "request" for r in caplog.records):
        time.sleep(0.05)
    assert not [record for record in caplog.records if record.getMessage() == "unhandled error"]
    [line] = [record for record in caplog.records if record.getMessage() == "request"]
    assert getattr(line, "code", None) == "client_disconnected"
