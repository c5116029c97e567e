"""The 'find the main object' services: the pixel-based mock and the HTTP client for a real model."""

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image

from image_processor.errors import ObjectLocatorError
from image_processor.jobs.locator import Location, MockObjectLocator, centred_box
from image_processor.jobs.locator_http import MAX_RESPONSE_BYTES, HttpObjectLocator
from image_processor.models import CropBox

BACKGROUND = (245, 245, 245)


def product(
    size: tuple[int, int], box: tuple[int, int, int, int], colour: tuple[int, int, int] = (30, 90, 200)
) -> Image.Image:
    image = Image.new("RGB", size, BACKGROUND)
    image.paste(colour, box)
    return image


def edges(box: CropBox) -> tuple[int, int, int, int]:
    return box.x, box.y, box.right, box.bottom


@pytest.mark.parametrize(
    ("size", "obj"),
    [
        ((640, 480), (380, 120, 540, 360)),
        ((300, 900), (20, 40, 120, 200)),
        ((2000, 1500), (900, 700, 1100, 800)),
        ((50, 50), (10, 10, 20, 40)),
    ],
)
def test_the_mock_finds_the_object_with_a_small_margin(size: tuple[int, int], obj: tuple[int, int, int, int]) -> None:
    box = MockObjectLocator().locate(product(size, obj)).box
    left, top, right, bottom = edges(box)
    assert left <= obj[0] and top <= obj[1] and right >= obj[2] and bottom >= obj[3], (edges(box), obj)
    slack = max(size) * 0.05 + 10
    assert obj[0] - left <= slack and obj[1] - top <= slack
    assert right - obj[2] <= slack and bottom - obj[3] <= slack


def test_the_mock_box_stays_inside_an_object_touching_the_edge() -> None:
    box = MockObjectLocator().locate(product((200, 100), (150, 0, 200, 60))).box
    assert box.x >= 0 and box.y == 0
    assert box.right == 200 and box.bottom <= 100


@pytest.mark.parametrize("size", [(1, 1), (1, 500), (500, 1), (3, 3)])
def test_the_mock_handles_tiny_and_thin_images(size: tuple[int, int]) -> None:
    box = MockObjectLocator().locate(Image.new("RGB", size, BACKGROUND)).box
    assert box.width > 0 and box.height > 0
    assert box.right <= size[0] and box.bottom <= size[1]


def test_a_plain_image_falls_back_to_a_centred_box() -> None:
    location = MockObjectLocator().locate(Image.new("RGB", (400, 200), BACKGROUND))
    assert location == Location(box=centred_box(400, 200), object_found=False)
    assert centred_box(400, 200) == CropBox(x=40, y=20, width=320, height=160)


def test_an_object_filling_the_frame_falls_back_to_a_centred_box() -> None:
    noisy = Image.effect_noise((120, 80), 100).convert("RGB")
    location = MockObjectLocator().locate(noisy)
    box = location.box
    assert not location.object_found
    assert box.right <= 120 and box.bottom <= 80


def test_the_mock_waits_its_configured_latency() -> None:
    """Audit 18: the latency is spent in the calling worker thread, never on the event loop."""
    started = time.perf_counter()
    MockObjectLocator(latency_seconds=0.05).locate(Image.new("RGB", (20, 20), BACKGROUND))
    assert time.perf_counter() - started >= 0.05


def http_locator(
    handler: httpx.MockTransport, *, max_attempts: int = 3, deadline_seconds: float | None = None
) -> HttpObjectLocator:
    return HttpObjectLocator(
        "http://127.0.0.1:9/locate",
        timeout_seconds=1,
        max_attempts=max_attempts,
        deadline_seconds=deadline_seconds,
        client=httpx.Client(transport=handler),
    )


@pytest.fixture
def no_retry_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries back off with time.sleep; skip the waiting."""
    monkeypatch.setattr("tenacity.nap.time.sleep", lambda seconds: None)


def test_the_http_client_posts_a_jpeg_and_reads_the_box() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"x": 1, "y": 2, "width": 3, "height": 4})

    location = http_locator(httpx.MockTransport(handler)).locate(Image.new("RGB", (20, 20)))
    assert location == Location(box=CropBox(x=1, y=2, width=3, height=4), object_found=True)
    assert seen[0].headers["content-type"] == "image/jpeg"
    assert seen[0].content.startswith(b"\xff\xd8")


@pytest.mark.usefixtures("no_retry_wait")
@pytest.mark.parametrize("failure", [503, 429, "timeout", "refused"])
def test_transient_failures_are_retried_then_reported_as_transient(failure: int | str) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if failure == "timeout":
            raise httpx.ReadTimeout("slow", request=request)
        if failure == "refused":
            raise httpx.ConnectError("refused", request=request)
        assert isinstance(failure, int)
        return httpx.Response(failure)

    with pytest.raises(ObjectLocatorError) as caught:
        http_locator(httpx.MockTransport(handler), max_attempts=3).locate(Image.new("RGB", (20, 20)))
    assert caught.value.transient
    assert calls == 3


@pytest.mark.usefixtures("no_retry_wait")
def test_a_transient_failure_followed_by_success_returns_the_box() -> None:
    answers = [httpx.Response(503), httpx.Response(200, json={"x": 0, "y": 0, "width": 5, "height": 5})]
    location = http_locator(httpx.MockTransport(lambda request: answers.pop(0))).locate(Image.new("RGB", (20, 20)))
    assert location.box == CropBox(x=0, y=0, width=5, height=5)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(400),
        httpx.Response(200, content=b"not json"),
        httpx.Response(200, json={"x": -1, "y": 0, "width": 5, "height": 5}),
        httpx.Response(200, json={"x": 0, "y": 0, "width": 0, "height": 5}),
        httpx.Response(200, content=json.dumps([1, 2, 3]).encode()),
    ],
)
def test_a_rejected_image_or_unusable_answer_is_permanent_and_not_retried(response: httpx.Response) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return response

    with pytest.raises(ObjectLocatorError) as caught:
        http_locator(httpx.MockTransport(handler)).locate(Image.new("RGB", (20, 20)))
    assert not caught.value.transient
    assert calls == 1


@pytest.mark.parametrize("url", ["http://ai.example.com/locate", "http://192.0.2.7/locate", "ftp://127.0.0.1/x"])
def test_the_http_client_refuses_plain_http_beyond_loopback(url: str) -> None:
    with pytest.raises(ValueError, match="must be https"):
        HttpObjectLocator(url, timeout_seconds=1, max_attempts=1)


@pytest.mark.parametrize("chunked", [False, True])
def test_an_oversized_answer_is_refused_without_reading_it_all(chunked: bool) -> None:
    produced = 0

    def endless() -> Iterator[bytes]:
        nonlocal produced
        while produced < 100 * MAX_RESPONSE_BYTES:
            produced += 8192
            yield b" " * 8192

    def handler(request: httpx.Request) -> httpx.Response:
        if chunked:
            return httpx.Response(200, content=endless())
        return httpx.Response(200, content=b" " * (MAX_RESPONSE_BYTES + 1))

    with pytest.raises(ObjectLocatorError, match="larger than") as caught:
        http_locator(httpx.MockTransport(handler)).locate(Image.new("RGB", (20, 20)))
    assert not caught.value.transient
    assert produced <= MAX_RESPONSE_BYTES + 2 * 8192


def test_all_attempts_together_end_within_the_deadline() -> None:
    calls = 0

    def slow_failure(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        time.sleep(0.2)
        return httpx.Response(503)

    started = time.monotonic()
    with pytest.raises(ObjectLocatorError):
        http_locator(httpx.MockTransport(slow_failure), max_attempts=50, deadline_seconds=0.5).locate(
            Image.new("RGB", (20, 20))
        )
    assert calls < 5
    # Without the deadline the 50 attempts would take over 10 s; the bound leaves room for a loaded machine.
    assert time.monotonic() - started < 5
