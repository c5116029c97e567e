"""POST /images/smart-crop: limited per client before any parsing, 202 at once, the crop in the background."""

import contextlib
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from ipaddress import ip_network
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from image_processor.api import create_app, forms
from image_processor.assembly import build_services
from image_processor.errors import ObjectLocatorError
from image_processor.jobs.locator import Location, MockObjectLocator
from image_processor.services import Services
from image_processor.settings import Settings
from tests.support import images, scenes
from tests.support.services import ManualClock, RecordingDispatcher, RecordingLocator
from tools.processes import free_port

LIMIT = 5  # the service's default is 20; a smaller limit keeps these tests quick
PEER = "203.0.113.10"


def smart_crop(client: TestClient, upload: bytes | None = None, *, forwarded_for: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    response: httpx.Response = client.post(
        "/images/smart-crop",
        files={"source_image": ("photo.jpg", upload or images.solid_jpeg(64, 48), "image/jpeg")},
        data={"product_info": json.dumps({"product_id": "ABC-123"})},
        headers=headers,
    )
    return response


def manual_crop(client: TestClient) -> httpx.Response:
    response: httpx.Response = client.post(
        "/images/manual-crop",
        files={"source_image": ("photo.jpg", images.solid_jpeg(64, 48), "image/jpeg")},
        data={
            "product_info": json.dumps({"product_id": "ABC-123"}),
            "crop_box": json.dumps({"x": 0, "y": 0, "width": 10, "height": 10}),
        },
    )
    return response


@contextlib.contextmanager
def api(services: Services, peer: str = PEER) -> Iterator[TestClient]:
    with TestClient(create_app(services), client=(peer, 50000)) as client:
        yield client


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def limited(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_requests": LIMIT})


@pytest.fixture
def queued(limited: Settings, clock: ManualClock) -> tuple[Services, RecordingDispatcher]:
    """Services whose jobs are queued but not run: these tests are about the front door."""
    dispatcher = RecordingDispatcher()
    return build_services(limited, clock=clock, dispatcher=dispatcher), dispatcher


def wait_for_job(client: TestClient, status_url: str, *, deadline_seconds: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + deadline_seconds
    while True:
        body: dict[str, Any] = client.get(status_url).json()
        if body["status"] in ("succeeded", "failed"):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{status_url} never finished: {body}")
        time.sleep(0.025)


# --- End to end ---------------------------------------------------------------------------------


def test_smart_crop_is_accepted_at_once_and_later_serves_the_objects_region(settings: Settings) -> None:
    """Audit 13: the prototype returned nothing; a 202 with the ids, then the crop."""
    locator = RecordingLocator(gate=threading.Event())
    scene = scenes.product_on_plain_background()
    with api(build_services(settings, locator=locator, retry_delay_seconds=0.05)) as client:
        response = smart_crop(client, scene.jpeg)

        assert response.status_code == 202, response.text
        body = response.json()
        assert set(body) == {"image_id", "retrieval_url", "status_url", "renditions"}
        assert body["retrieval_url"] == f"/images/ABC-123/{body['image_id']}.jpg"
        assert body["status_url"] == response.headers["Location"] == f"/jobs/{body['image_id']}"
        assert client.get(body["retrieval_url"]).status_code == 404
        assert client.get(body["status_url"]).json()["status"] in ("pending", "processing")

        assert locator.gate is not None
        locator.gate.set()
        view = wait_for_job(client, body["status_url"])
        result = client.get(body["retrieval_url"])

    assert result.status_code == 200
    assert result.headers["content-type"] == "image/jpeg"
    (box,) = locator.boxes
    assert view == {
        "image_id": body["image_id"],
        "status": "succeeded",
        "retrieval_url": body["retrieval_url"],
        "renditions": body["renditions"],
        "error": None,
        "crop_box": box.model_dump(),
        "object_found": True,
        "checks": None,
        "webhook": None,
    }
    left, top, right, bottom = scene.box
    assert box.x <= left and box.y <= top and box.right >= right and box.bottom >= bottom
    assert box.width * box.height <= 1.3 * (right - left) * (bottom - top)
    assert images.pixel(result.content, box.width // 2, box.height // 2) == pytest.approx(scenes.OBJECT, abs=12)
    assert scenes.object_share(result.content) > 0.75
    assert list(settings.processed_images_dir.joinpath(".staging").iterdir()) == []


def test_an_ai_failure_shows_as_a_failed_job_with_a_fixed_reason(settings: Settings) -> None:
    """Audit 17: background exceptions vanished and the client polled a 404 forever. Issue 14: the reason is
    a fixed sentence; the AI's own text (here a pydantic error quoting its answer) stays in the logs."""
    ai_text = "AI service returned an unusable box: [input_value={'x': -5}]"
    locator = RecordingLocator(failures=[ObjectLocatorError(ai_text, transient=False)])
    with api(build_services(settings, locator=locator, retry_delay_seconds=0.05)) as client:
        body = smart_crop(client, scenes.product_on_plain_background().jpeg).json()
        outcome = wait_for_job(client, body["status_url"])
        assert client.get(body["retrieval_url"]).status_code == 404

    assert outcome["status"] == "failed"
    assert outcome["error"] == "the AI service could not process this image"
    assert "input_value" not in json.dumps(outcome)
    assert list(settings.processed_images_dir.joinpath(".staging").iterdir()) == []


def test_a_transient_ai_failure_is_retried_until_the_job_succeeds(settings: Settings) -> None:
    locator = RecordingLocator(failures=[ObjectLocatorError("the model timed out", transient=True)])
    with api(build_services(settings, locator=locator, retry_delay_seconds=0.05)) as client:
        body = smart_crop(client, scenes.product_on_plain_background().jpeg).json()
        assert wait_for_job(client, body["status_url"])["status"] == "succeeded"
        assert client.get(body["retrieval_url"]).status_code == 200
    assert locator.calls == 2


def test_a_full_local_queue_answers_503_with_retry_after_and_keeps_nothing(settings: Settings) -> None:
    locator = RecordingLocator(gate=threading.Event())
    small = settings.model_copy(update={"local_queue_max_jobs": 1, "local_worker_concurrency": 1})
    services = build_services(small, locator=locator)
    try:
        with api(services) as client:
            first = smart_crop(client)
            refused = smart_crop(client)
            assert first.status_code == 202, first.text
            assert refused.status_code == 503
            assert refused.json()["error"]["code"] == "server_busy"
            assert int(refused.headers["Retry-After"]) >= 1
            assert services.storage.staging.staged_ids() == [first.json()["image_id"]]
            assert locator.gate is not None
            locator.gate.set()
            assert wait_for_job(client, first.json()["status_url"])["status"] == "succeeded"
            assert smart_crop(client).status_code == 202
    finally:
        assert locator.gate is not None
        locator.gate.set()


def test_an_upload_that_is_not_an_image_is_refused_before_a_job_exists(
    queued: tuple[Services, RecordingDispatcher],
) -> None:
    services, dispatcher = queued
    with api(services) as client:
        response = smart_crop(client, b"this is not an image")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_image"
    assert dispatcher.dispatched == []


def test_a_job_that_cannot_be_recorded_leaves_no_staged_upload(limited: Settings, clock: ManualClock) -> None:
    dispatcher = RecordingDispatcher()
    no_jobs_table = limited.model_copy(update={"jobs_table": "no-such-table"})
    services = build_services(no_jobs_table, clock=clock, dispatcher=dispatcher)
    with api(services) as client:
        response = smart_crop(client)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
    assert dispatcher.dispatched == []
    assert services.storage.staging.staged_ids() == []


def test_a_job_that_cannot_be_catalogued_is_never_dispatched_and_leaves_nothing_pending(
    limited: Settings, clock: ManualClock, dynamodb: Any
) -> None:
    """The catalog entry is written beside the staged upload and the job record; without it the worker could
    not record the job's end in the product's listing, so the job must not run."""
    dispatcher = RecordingDispatcher()
    no_catalog = limited.model_copy(update={"catalog_table": "no-such-table"})
    services = build_services(no_catalog, clock=clock, dispatcher=dispatcher)
    with api(services) as client:
        response = smart_crop(client)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "service_unavailable"
        (job_item,) = dynamodb.scan(TableName=limited.jobs_table)["Items"]
        job = client.get(f"/jobs/{job_item['image_id']['S']}").json()
    assert dispatcher.dispatched == []
    assert services.storage.staging.staged_ids() == []
    assert (job["status"], job["error"]) == ("failed", "could not be catalogued")


def test_an_upload_that_cannot_be_staged_leaves_its_job_failed_not_pending(
    limited: Settings, clock: ManualClock, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatcher = RecordingDispatcher()
    services = build_services(limited, clock=clock, dispatcher=dispatcher)

    def disk_full(image_id: str, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(services.storage.staging, "stage", disk_full)
    app = create_app(services)
    with TestClient(app, client=(PEER, 50000), raise_server_exceptions=False) as client:
        response = client.post(
            "/images/smart-crop",
            files={"source_image": ("photo.jpg", images.solid_jpeg(64, 48), "image/jpeg")},
            data={"product_info": json.dumps({"product_id": "ABC-123"})},
        )
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "internal_error"
        (job_item,) = dynamodb.scan(TableName=limited.jobs_table)["Items"]
        image_id = job_item["image_id"]["S"]
        job = client.get(f"/jobs/{image_id}").json()
    assert job["status"] == "failed"
    assert job["error"] == "the upload could not be staged"
    assert dispatcher.dispatched == []
    assert dynamodb.scan(TableName=limited.catalog_table)["Items"] == []


# --- Rate limit ---------------------------------------------------------------------------------


def test_accepted_requests_carry_rate_limit_headers(queued: tuple[Services, RecordingDispatcher]) -> None:
    services, _ = queued
    with api(services) as client:
        first, second = smart_crop(client), smart_crop(client)
    assert first.status_code == second.status_code == 202
    assert first.headers["RateLimit-Limit"] == str(LIMIT)
    assert first.headers["RateLimit-Remaining"] == str(LIMIT - 1)
    assert second.headers["RateLimit-Remaining"] == str(LIMIT - 2)
    assert first.headers["RateLimit-Reset"] == "3600"


def test_the_request_over_the_limit_gets_429_with_retry_after(
    queued: tuple[Services, RecordingDispatcher], clock: ManualClock
) -> None:
    """Audit 13: the prototype had no rate limit at all."""
    services, dispatcher = queued
    with api(services) as client:
        smart_crop(client)
        clock.advance(600)
        for _ in range(LIMIT - 1):
            assert smart_crop(client).status_code == 202
        clock.advance(120)
        refused = smart_crop(client)

    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/json"
    error = refused.json()["error"]
    assert error["code"] == "rate_limited"
    assert "5 requests per 3600 seconds" in error["message"]
    # The oldest accepted request is 720 s old; its slot frees in 3600 - 720 s.
    assert refused.headers["Retry-After"] == "2880"
    assert refused.headers["RateLimit-Limit"] == str(LIMIT)
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["RateLimit-Reset"] == "2880"
    assert len(dispatcher.dispatched) == LIMIT


def test_exactly_the_limit_is_admitted_out_of_many_concurrent_requests(
    queued: tuple[Services, RecordingDispatcher],
) -> None:
    """Audit 13: concurrent requests never get past the limit."""
    services, dispatcher = queued
    with api(services) as client, ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(lambda _: smart_crop(client).status_code, range(16)))
    assert sorted(statuses) == [202] * LIMIT + [429] * (16 - LIMIT)
    assert len(dispatcher.dispatched) == LIMIT


def test_the_limit_is_decided_before_the_body_is_read(
    queued: tuple[Services, RecordingDispatcher], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Audit 14: the prototype read the whole upload before anything else."""
    services, _ = queued
    with api(services) as client:
        for _ in range(LIMIT):
            assert smart_crop(client).status_code == 202

        parsed: list[object] = []
        original = forms.read_upload

        async def spy(*args: Any, **kwargs: Any) -> Any:
            parsed.append(args)
            return await original(*args, **kwargs)

        monkeypatch.setattr("image_processor.api.routes.images.read_upload", spy)
        broken_multipart = client.post(
            "/images/smart-crop",
            content=b"--nope\r\nthis is not multipart" + b"x" * 2_000_000,
            headers={"Content-Type": "multipart/form-data; boundary=elsewhere"},
        )
        not_multipart = client.post("/images/smart-crop", json={"product_id": "ABC-123"})
        no_body = client.post("/images/smart-crop")

    for response in (broken_multipart, not_multipart, no_body):
        assert response.status_code == 429, response.text
        assert response.json()["error"]["code"] == "rate_limited"
    assert parsed == []


def test_a_forged_forwarded_for_from_an_untrusted_peer_is_ignored(
    queued: tuple[Services, RecordingDispatcher],
) -> None:
    services, _ = queued
    with api(services) as client:
        statuses = [smart_crop(client, forwarded_for=f"198.51.100.{i}").status_code for i in range(LIMIT + 1)]
    assert statuses == [202] * LIMIT + [429]


def test_forwarded_for_from_a_trusted_proxy_names_the_client(limited: Settings, clock: ManualClock) -> None:
    trusted = limited.model_copy(update={"trusted_proxies": [ip_network("127.0.0.1/32")]})
    services = build_services(trusted, clock=clock, dispatcher=RecordingDispatcher())
    with api(services, peer="127.0.0.1") as client:
        for _ in range(LIMIT):
            # The left hop is the client's own claim; the right-most hop the proxy did not add is the client.
            assert smart_crop(client, forwarded_for="1.1.1.1, 198.51.100.1").status_code == 202
        assert smart_crop(client, forwarded_for="9.9.9.9, 198.51.100.1").status_code == 429
        assert smart_crop(client, forwarded_for="198.51.100.2").status_code == 202


def test_a_client_cannot_choose_its_address_with_a_second_forwarded_for_line(
    limited: Settings, clock: ManualClock
) -> None:
    """Issue 14: a proxy that appends its own X-Forwarded-For line leaves the client's forged line first."""
    trusted = limited.model_copy(update={"trusted_proxies": [ip_network("127.0.0.1/32")]})
    services = build_services(trusted, clock=clock, dispatcher=RecordingDispatcher())
    with api(services, peer="127.0.0.1") as client:
        statuses = []
        for attempt in range(LIMIT + 1):
            # The client's own line (a new address each time), then the line the proxy appended.
            lines = [("X-Forwarded-For", f"6.6.6.{attempt}"), ("X-Forwarded-For", "198.51.100.1:40000")]
            response = client.post(
                "/images/smart-crop",
                files={"source_image": ("photo.jpg", images.solid_jpeg(64, 48), "image/jpeg")},
                data={"product_info": json.dumps({"product_id": "ABC-123"})},
                headers=httpx.Headers(lines),
            )
            statuses.append(response.status_code)
        other = smart_crop(client, forwarded_for="198.51.100.2:40000").status_code
    assert statuses == [202] * LIMIT + [429]
    assert other == 202


def test_ipv6_clients_in_one_56_share_a_budget(queued: tuple[Services, RecordingDispatcher]) -> None:
    services, _ = queued
    with api(services, peer="2001:db8:0:1::1") as first, api(services, peer="2001:db8:0:ff:ffff::2") as second:
        statuses = [smart_crop(first if i % 2 else second).status_code for i in range(LIMIT + 2)]
    with api(services, peer="2001:db8:0:100::1") as neighbour:
        other = smart_crop(neighbour).status_code
    assert statuses == [202] * LIMIT + [429, 429]
    assert other == 202


# --- DynamoDB outages ---------------------------------------------------------------------------


@contextlib.contextmanager
def unresponsive_endpoint() -> Iterator[str]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_an_unresponsive_dynamodb_gives_503_within_the_timeout(settings: Settings) -> None:
    with unresponsive_endpoint() as url:
        stalled = settings.model_copy(update={"aws_endpoint_url": url, "aws_timeout_seconds": 0.3})
        with api(build_services(stalled)) as client:
            started = time.monotonic()
            response = smart_crop(client)
            elapsed = time.monotonic() - started
            manual = manual_crop(client)

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
    assert elapsed < 5  # two attempts of 0.3 s each, not a hang
    assert manual.status_code == 200


def test_a_refused_dynamodb_connection_gives_503_and_leaves_other_endpoints_working(settings: Settings) -> None:
    with api(build_services(settings)) as client:
        kept = manual_crop(client).json()["retrieval_url"]
    down = settings.model_copy(update={"aws_endpoint_url": f"http://127.0.0.1:{free_port()}"})
    with api(build_services(down)) as client:
        refused = smart_crop(client)
        assert manual_crop(client).status_code == 200
        assert client.get(kept).status_code == 200
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "service_unavailable"


# --- The mock AI (audit 16, 18, 19, 20) -------------------------------------------------------


def test_the_mock_ai_latency_never_blocks_other_requests(settings: Settings) -> None:
    """Audit 18: the prototype's `time.sleep(2)` inside `async def` froze the server for every call.

    While the AI is still working (here: held until the test lets it go, however slow the machine), the
    202, the job's status and `/health` all answer.
    """
    working, finish = threading.Event(), threading.Event()
    mock = MockObjectLocator()

    class HeldLocator:
        def locate(self, image: Image.Image) -> Location:
            working.set()
            assert finish.wait(30)
            return mock.locate(image)

    with api(build_services(settings, locator=HeldLocator())) as client:
        accepted = smart_crop(client, scenes.product_on_plain_background().jpeg)
        assert accepted.status_code == 202, accepted.text
        status_url = accepted.json()["status_url"]
        assert working.wait(15)

        assert client.get("/health").status_code == 200
        assert client.get(status_url).json()["status"] == "processing"
        assert client.get(accepted.json()["retrieval_url"]).status_code == 404

        finish.set()
        assert wait_for_job(client, status_url)["status"] == "succeeded"


def test_the_default_ai_looks_at_the_uploaded_pixels(settings: Settings) -> None:
    """Audit 19/20: the prototype dropped the un-awaited upload and always answered (50, 50, 150, 150).

    Objects of different sizes in different places give crops of those objects; a picture smaller
    than the prototype's fixed box is cropped inside its own bounds, with no black padding.
    """
    placements = [(380, 120, 540, 360), (40, 300, 140, 450)]
    with api(build_services(settings)) as client:
        crops = []
        for box in placements:
            body = smart_crop(client, scenes.product_on_plain_background(box=box).jpeg).json()
            assert wait_for_job(client, body["status_url"])["status"] == "succeeded"
            crops.append(client.get(body["retrieval_url"]).content)
        tiny = smart_crop(client, images.solid_jpeg(120, 90, colour=images.RED)).json()
        assert wait_for_job(client, tiny["status_url"])["status"] == "succeeded"
        tiny_crop = client.get(tiny["retrieval_url"]).content

    for crop, (left, top, right, bottom) in zip(crops, placements, strict=True):
        assert scenes.object_share(crop) > 0.75
        width, height = image_size(crop)
        assert right - left <= width <= 1.3 * (right - left)
        assert bottom - top <= height <= 1.3 * (bottom - top)
    width, height = image_size(tiny_crop)
    assert width <= 120 and height <= 90
    assert images.close_to(images.pixel(tiny_crop, 0, 0), images.RED)
    assert images.close_to(images.pixel(tiny_crop, width - 1, height - 1), images.RED)


def image_size(jpeg: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(jpeg)) as image:
        return image.size
