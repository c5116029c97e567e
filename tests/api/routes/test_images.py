"""POST /images/manual-crop and GET/HEAD /images/{path}, through the app with real files and moto."""

import contextlib
import io
import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import pyvips
from fastapi.testclient import TestClient
from PIL import Image, ImageFile

from image_processor import imaging
from image_processor.api import create_app
from image_processor.assembly import build_services
from image_processor.settings import Settings
from tests.support import images
from tests.support.apps import app_client, files_under, fresh_settings
from tests.support.jpeg_bombs import many_scans_jpeg
from tests.support.live import raw_request, serving
from tests.support.uploads import assert_error, manual_crop

ClientFactory = Callable[..., TestClient]
NewFiles = Callable[[], list[Path]]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, aws_endpoint: str) -> Settings:
    """One app for the module: these tests need no fresh rate-limit or job state."""
    return fresh_settings(tmp_path_factory.mktemp("images"), aws_endpoint)


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with app_client(settings) as test_client:
        yield test_client


@pytest.fixture
def make_client(settings: Settings) -> Iterator[ClientFactory]:
    """Clients for apps built from `settings` with some fields overridden."""
    with contextlib.ExitStack() as stack:

        def make(*, raise_server_exceptions: bool = True, **overrides: Any) -> TestClient:
            changed = settings.model_copy(update=overrides)
            return stack.enter_context(app_client(changed, raise_server_exceptions=raise_server_exceptions))

        yield make


@pytest.fixture
def new_files(settings: Settings) -> NewFiles:
    """Files written under the storage root since the test started."""
    before = files_under(settings.processed_images_dir)
    return lambda: sorted(files_under(settings.processed_images_dir) - before)


def crop_box(**fields: Any) -> dict[str, Any]:
    return {"x": 0, "y": 0, "width": 10, "height": 10} | fields


# --- manual crop: the contract ---------------------------------------------------------------


def test_manual_crop_returns_the_contract_body(client: TestClient, settings: Settings, new_files: NewFiles) -> None:
    """Audit 3: a 200 with {image_id, retrieval_url}, not `null`."""
    response = manual_crop(client, images.solid_jpeg(), product_id="ABC-123")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"image_id", "retrieval_url", "renditions"}
    assert re.fullmatch(r"[0-9a-f]{32}", body["image_id"])
    assert body["retrieval_url"] == f"/images/ABC-123/{body['image_id']}.jpg"
    assert body["renditions"] == {
        preset: f"/images/ABC-123/{body['image_id']}/{preset}" for preset in ("thumbnail", "listing", "zoom")
    }
    assert new_files() == [settings.processed_images_dir / "ABC-123" / f"{body['image_id']}.jpg"]


def test_every_manual_crop_gets_a_new_image_id(client: TestClient) -> None:
    ids = {manual_crop(client, images.solid_jpeg()).json()["image_id"] for _ in range(3)}
    assert len(ids) == 3


def test_the_retrieval_url_serves_the_cropped_region(client: TestClient) -> None:
    source = images.encode(images.halves(200, 200, images.RED, images.BLUE), "PNG")
    response = manual_crop(client, source, box={"x": 20, "y": 120, "width": 60, "height": 40})
    image = client.get(response.json()["retrieval_url"])
    assert image.status_code == 200
    assert Image.open(io.BytesIO(image.content)).size == (60, 40)
    assert images.close_to(images.pixel(image.content, 30, 20), images.BLUE)


def test_the_upload_is_decoded_by_content_not_by_name_or_declared_type(client: TestClient) -> None:
    response = manual_crop(client, images.rgba_png(), filename="notes.txt", content_type="text/plain")
    assert response.status_code == 200, response.text


# --- manual crop: malformed fields -------------------------------------------------------------


@pytest.mark.parametrize(
    ("product_info", "field"),
    [
        pytest.param("not json", "product_info", id="not-json"),
        pytest.param("", "product_info", id="empty"),
        pytest.param('{"product_id": "A"', "product_info", id="unterminated"),
        pytest.param("[]", "product_info", id="array"),
        pytest.param('"ABC-123"', "product_info", id="string"),
        pytest.param("null", "product_info", id="null"),
        pytest.param("{}", "product_info.product_id", id="missing-key"),
        pytest.param('{"productId": "ABC"}', "product_info.product_id", id="misspelt-key"),
        pytest.param('{"product_id": 123}', "product_info.product_id", id="number"),
        pytest.param('{"product_id": null}', "product_info.product_id", id="null-id"),
    ],
)
def test_malformed_product_info_is_a_422_naming_the_field(client: TestClient, product_info: str, field: str) -> None:
    """Audit 4: malformed JSON or a missing key is a 422 that names the field, never a 500."""
    response = client.post(
        "/images/manual-crop",
        files={"source_image": ("a.jpg", images.solid_jpeg(), "image/jpeg")},
        data={"product_info": product_info, "crop_box": json.dumps(crop_box())},
    )
    assert_error(response, 422, "invalid_request", field)


@pytest.mark.parametrize(
    ("raw_box", "field"),
    [
        pytest.param("{", "crop_box", id="not-json"),
        pytest.param("", "crop_box", id="empty"),
        pytest.param("[0, 0, 10, 10]", "crop_box", id="array"),
        pytest.param('{"y": 0, "width": 10, "height": 10}', "crop_box.x", id="missing-x"),
        pytest.param('{"x": 0, "width": 10, "height": 10}', "crop_box.y", id="missing-y"),
        pytest.param('{"x": 0, "y": 0, "height": 10}', "crop_box.width", id="missing-width"),
        pytest.param('{"x": 0, "y": 0, "width": 10}', "crop_box.height", id="missing-height"),
        pytest.param('{"x": 0, "y": 0, "width": 10, "height": 10, "z": 1}', "crop_box.z", id="unknown-key"),
    ],
)
def test_malformed_crop_box_json_is_a_422_naming_the_field(client: TestClient, raw_box: str, field: str) -> None:
    """Audit 4: `crop_data["x"]` on a missing key was a 500."""
    response = client.post(
        "/images/manual-crop",
        files={"source_image": ("a.jpg", images.solid_jpeg(), "image/jpeg")},
        data={"product_info": '{"product_id": "ABC-123"}', "crop_box": raw_box},
    )
    assert_error(response, 422, "invalid_request", field)


@pytest.mark.parametrize("missing", ["source_image", "product_info", "crop_box"])
def test_a_missing_form_field_is_a_422_naming_it(client: TestClient, missing: str) -> None:
    """Audit 4."""
    files = {} if missing == "source_image" else {"source_image": ("a.jpg", images.solid_jpeg(), "image/jpeg")}
    data = {"product_info": '{"product_id": "ABC-123"}', "crop_box": json.dumps(crop_box())}
    data.pop(missing, None)
    if not files:
        files = {"unrelated": ("x.txt", b"x", "text/plain")}
    response = client.post("/images/manual-crop", files=files, data=data)
    assert_error(response, 422, "invalid_request", missing)


@pytest.mark.parametrize(
    ("box", "field"),
    [
        pytest.param(crop_box(x=-1), "crop_box.x", id="negative-x"),
        pytest.param(crop_box(y=-5), "crop_box.y", id="negative-y"),
        pytest.param(crop_box(width=0), "crop_box.width", id="zero-width"),
        pytest.param(crop_box(height=0), "crop_box.height", id="zero-height"),
        pytest.param(crop_box(width=-10), "crop_box.width", id="negative-width"),
        pytest.param(crop_box(x=1.5), "crop_box.x", id="fractional-x"),
        pytest.param(crop_box(width=10.0), "crop_box.width", id="float-width"),
        pytest.param(crop_box(y="10"), "crop_box.y", id="string-y"),
        pytest.param(crop_box(height=True), "crop_box.height", id="bool-height"),
        pytest.param(crop_box(x=None), "crop_box.x", id="null-x"),
        pytest.param(crop_box(x=[1]), "crop_box.x", id="list-x"),
    ],
)
def test_invalid_crop_box_values_are_a_422_naming_the_field(
    client: TestClient, new_files: NewFiles, box: dict[str, Any], field: str
) -> None:
    """Audit 5: negative, zero-sized, fractional, string and boolean values are refused."""
    assert_error(manual_crop(client, images.solid_jpeg(), box=box), 422, "invalid_request", field)
    assert new_files() == []


@pytest.mark.parametrize(
    ("box", "field"),
    [
        pytest.param(crop_box(x=195), "crop_box.width", id="past-right-edge"),
        pytest.param(crop_box(y=395), "crop_box.height", id="past-bottom-edge"),
        pytest.param(crop_box(width=300), "crop_box.width", id="wider-than-shown-but-not-than-stored"),
        pytest.param(crop_box(x=10_000), "crop_box.width", id="far-outside"),
    ],
)
def test_a_box_outside_the_oriented_image_is_a_422_naming_the_field(
    client: TestClient, new_files: NewFiles, box: dict[str, Any], field: str
) -> None:
    """Audit 5/8: bounds are checked against the image as shown (200x400), not padded with black."""
    assert_error(manual_crop(client, images.exif_rotated_jpeg(), box=box), 422, "crop_out_of_bounds", field)
    assert new_files() == []


def test_a_box_touching_every_edge_of_the_oriented_image_is_accepted(client: TestClient) -> None:
    response = manual_crop(client, images.exif_rotated_jpeg(), box={"x": 0, "y": 0, "width": 200, "height": 400})
    assert response.status_code == 200, response.text
    content = client.get(response.json()["retrieval_url"]).content
    assert Image.open(io.BytesIO(content)).size == (200, 400)


# --- manual crop: images -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"this is text in a file called photo.jpg", id="text"),
        pytest.param(images.truncated_jpeg(), id="truncated-jpeg"),
        pytest.param(images.truncated("PNG"), id="truncated-png"),
    ],
)
def test_non_images_and_truncated_uploads_are_a_4xx(client: TestClient, new_files: NewFiles, source: bytes) -> None:
    """Audit 6: Pillow's exceptions were a 500; now a 415 naming source_image."""
    assert_error(manual_crop(client, source), 415, "unsupported_image", "source_image")
    assert new_files() == []


@pytest.mark.parametrize("source", [images.truncated_jpeg(), images.truncated("PNG")], ids=["jpeg", "png"])
def test_a_decoder_failure_gives_a_fixed_message_and_logs_the_decoders(
    client: TestClient, caplog: pytest.LogCaptureFixture, source: bytes
) -> None:
    """Issue 14: the decoder's own text (libjpeg's, zlib's) reached clients; it belongs in the logs."""
    caplog.clear()
    response = manual_crop(client, source)
    assert_error(response, 415, "unsupported_image", "source_image")
    assert response.json()["error"]["message"] == (
        "source_image could not be decoded; the file may be damaged or truncated"
    )
    [refused] = [record for record in caplog.records if record.getMessage() == "request refused"]
    assert getattr(refused, "reason", "")


@pytest.mark.parametrize(
    ("make", "box", "expected"),
    [
        pytest.param(images.rgba_png, (60, 0, 20, 20), (20, 20, 220), id="rgba-opaque"),
        pytest.param(images.rgba_png, (0, 0, 20, 20), images.WHITE, id="rgba-transparent-on-white"),
        pytest.param(images.la_png, (0, 0, 20, 20), images.WHITE, id="la-transparent-on-white"),
        pytest.param(images.la_png, (60, 0, 20, 20), (40, 40, 40), id="la-opaque"),
        pytest.param(images.palette_png_with_transparency, (0, 0, 20, 20), images.WHITE, id="p-transparent"),
        pytest.param(images.palette_png_with_transparency, (60, 0, 20, 20), images.GREEN, id="p-opaque"),
        pytest.param(images.cmyk_jpeg, (0, 0, 20, 20), (255, 0, 0), id="cmyk"),
        pytest.param(images.sixteen_bit_png, (0, 0, 20, 20), images.WHITE, id="16-bit-grey"),
        pytest.param(images.sixteen_bit_rgb_png, (0, 0, 20, 20), (255, 0, 0), id="16-bit-rgb"),
        pytest.param(images.icc_tagged_jpeg, (0, 0, 20, 20), (0, 0, 255), id="icc-swapped-primaries"),
    ],
)
def test_every_image_mode_becomes_an_rgb_jpeg_with_the_right_colours(
    client: TestClient, make: Callable[[], bytes], box: tuple[int, int, int, int], expected: tuple[int, int, int]
) -> None:
    """Audit 7: `save(..., "JPEG")` raised for alpha, palette and 16-bit modes; colours must survive."""
    x, y, width, height = box
    response = manual_crop(client, make(), box={"x": x, "y": y, "width": width, "height": height})
    assert response.status_code == 200, response.text
    content = client.get(response.json()["retrieval_url"]).content
    image = Image.open(io.BytesIO(content))
    assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (width, height))
    assert images.close_to(images.pixel(content, width // 2, height // 2), expected, tolerance=20)


def test_the_crop_box_applies_to_the_image_as_displayed(client: TestClient) -> None:
    """Audit 8: shown 200x400 with blue left and red right, (0, 0, 100, 100) is blue."""
    left = manual_crop(client, images.exif_rotated_jpeg(), box={"x": 0, "y": 0, "width": 100, "height": 100})
    right = manual_crop(client, images.exif_rotated_jpeg(), box={"x": 100, "y": 300, "width": 100, "height": 100})
    assert images.close_to(images.pixel(client.get(left.json()["retrieval_url"]).content, 50, 50), images.BLUE)
    assert images.close_to(images.pixel(client.get(right.json()["retrieval_url"]).content, 50, 50), images.RED)


def test_stored_images_carry_no_exif_or_gps(client: TestClient) -> None:
    response = manual_crop(client, images.jpeg_with_gps(), box={"x": 0, "y": 0, "width": 50, "height": 50})
    content = client.get(response.json()["retrieval_url"]).content
    image = Image.open(io.BytesIO(content))
    assert not image.getexif()
    assert b"Exif" not in content
    assert b"PhoneMaker" not in content


def test_an_upload_over_max_upload_bytes_is_a_413(make_client: ClientFactory, new_files: NewFiles) -> None:
    """Audit 9: the upload size is capped."""
    client = make_client(max_upload_bytes=10_000)
    big = images.noisy("PNG", 128, 128)
    assert len(big) > 10_000
    assert_error(manual_crop(client, big), 413, "payload_too_large")
    assert manual_crop(client, images.solid_jpeg(40, 40), box=crop_box()).status_code == 200
    assert len(new_files()) == 1


def _open_files_under(folder: Path) -> list[str]:
    """Files this process holds open under `folder` (a spooled upload is unlinked as soon as it is created)."""
    targets = (os.readlink(link) for link in Path("/proc/self/fd").iterdir() if link.exists())
    return [target for target in targets if target.startswith(f"{folder}/")]


def test_a_large_upload_waits_on_disk_until_its_crop_and_is_removed_after(
    make_client: ClientFactory, new_files: NewFiles, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Issue 11: uploads waiting for a crop slot were all held in memory (50 x 5 MB at once). A file part
    over 1 MB is written to UPLOAD_SPOOL_DIR as it arrives, read only by the crop, and closed after it."""
    spool = tmp_path / "spool"
    spool.mkdir()
    client = make_client(upload_spool_dir=spool)
    spooled_during_crop: list[list[str]] = []
    crop = imaging.crop_to_jpeg

    def crop_and_look(data: bytes, *args: Any, **kwargs: Any) -> bytes:
        spooled_during_crop.append(_open_files_under(spool))
        return crop(data, *args, **kwargs)

    monkeypatch.setattr(imaging, "crop_to_jpeg", crop_and_look)
    big = images.noisy("PNG", 700, 700)
    assert len(big) > 1024 * 1024
    response = manual_crop(client, big)
    assert response.status_code == 200, response.text
    assert len(spooled_during_crop) == 1 and len(spooled_during_crop[0]) == 1
    assert _open_files_under(spool) == []
    assert len(new_files()) == 1


def test_a_small_upload_never_needs_the_spool_folder(
    make_client: ClientFactory, new_files: NewFiles, tmp_path: Path
) -> None:
    """Files under 1 MB stay in memory: a container whose spool folder is missing still crops them."""
    client = make_client(upload_spool_dir=tmp_path / "no-such-folder")
    response = manual_crop(client, images.noisy("PNG", 200, 200))
    assert response.status_code == 200, response.text
    assert len(new_files()) == 1


def test_an_upload_with_no_room_to_wait_is_a_503_to_retry(
    make_client: ClientFactory, new_files: NewFiles, tmp_path: Path
) -> None:
    """A spool folder that cannot be written (full, missing) is the server's capacity, not a 500."""
    client = make_client(upload_spool_dir=tmp_path / "no-such-folder")
    response = manual_crop(client, images.noisy("PNG", 700, 700))
    assert_error(response, 503, "server_busy")
    assert response.headers["Retry-After"] == "5"
    assert new_files() == []


def test_a_body_far_over_the_cap_is_refused_before_it_is_read(make_client: ClientFactory) -> None:
    """Audit 9: a declared Content-Length over the cap is a 413 straight away."""
    client = make_client(max_upload_bytes=10_000)
    response = client.post(
        "/images/manual-crop",
        content=b"x" * 1_000_000,
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert_error(response, 413, "payload_too_large")


def test_every_size_refusal_names_one_limit_and_the_field(make_client: ClientFactory) -> None:
    """Issue 12: the file check and the body checks (declared, streamed) said two different numbers; a 413
    carries `field` like every other error with a cause in one field."""
    client = make_client(max_upload_bytes=10_000)
    form_headers = {"Content-Type": "multipart/form-data; boundary=x"}

    def streamed() -> Iterator[bytes]:
        yield from (b"x" * 100_000 for _ in range(10))

    refusals = [
        manual_crop(client, images.noisy("PNG", 128, 128)),
        client.post("/images/manual-crop", content=b"x" * 1_000_000, headers=form_headers),
    ]
    # A chunked body is refused before its size matters (issue 22: 1-byte chunks starved the event loop).
    assert_error(client.post("/images/manual-crop", content=streamed(), headers=form_headers), 411, "length_required")
    messages = set()
    for response in refusals:
        assert_error(response, 413, "payload_too_large", "source_image")
        messages.add(response.json()["error"]["message"])
    assert messages == {"source_image is larger than the 10000 bytes allowed (MAX_UPLOAD_BYTES)."}


def test_a_header_claiming_too_many_pixels_is_refused_before_decoding(
    client: TestClient, new_files: NewFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Audit 9: a PNG header claiming 30000x30000 is a 422 and its pixels are never decoded."""

    def must_not_decode(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded a pixel bomb")

    monkeypatch.setattr(ImageFile.ImageFile, "load", must_not_decode)
    response = manual_crop(client, images.png_header_claiming(30000, 30000))
    assert_error(response, 422, "image_too_large", "source_image")
    assert new_files() == []


def test_the_pixel_cap_is_configurable(make_client: ClientFactory) -> None:
    client = make_client(max_image_pixels=100 * 100)
    assert_error(manual_crop(client, images.solid_jpeg(101, 100)), 422, "image_too_large")
    assert manual_crop(client, images.solid_jpeg(100, 100)).status_code == 200


@pytest.mark.parametrize(
    "product_id",
    ["", "-leading-dash", "_leading", "has space", "a/b", "..", ".hidden", "a.b", "x" * 65, "é", "ABC\x00", "a\\b"],
)
def test_unsafe_product_ids_are_a_422(client: TestClient, new_files: NewFiles, product_id: str) -> None:
    """Audit 11: product_info.product_id becomes a folder, so it must match the allow-list."""
    response = manual_crop(client, images.solid_jpeg(), product_id=product_id)
    assert_error(response, 422, "invalid_request", "product_info.product_id")
    assert new_files() == []


@pytest.mark.parametrize("product_id", ["A", "abc-123_X", "9" + "x" * 63])
def test_safe_product_ids_become_the_folder(client: TestClient, new_files: NewFiles, product_id: str) -> None:
    """Audit 11."""
    response = manual_crop(client, images.solid_jpeg(), product_id=product_id)
    assert response.status_code == 200, response.text
    assert response.json()["retrieval_url"].startswith(f"/images/{product_id}/")
    assert [path.parent.name for path in new_files()] == [product_id]


def test_a_failed_write_leaves_no_file_and_answers_json(
    make_client: ClientFactory, new_files: NewFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Audit 12: when the disk fails mid-write nothing appears at the target and no temp file remains."""

    def failing_fsync(descriptor: int) -> None:
        raise OSError(5, "Input/output error")

    client = make_client(raise_server_exceptions=False)
    monkeypatch.setattr("image_processor.storage.filesystem.os.fsync", failing_fsync)
    response = client.post(
        "/images/manual-crop",
        files={"source_image": ("a.jpg", images.solid_jpeg(), "image/jpeg")},
        data={"product_info": '{"product_id": "ABC-123"}', "crop_box": json.dumps(crop_box())},
    )
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "An unexpected error occurred; it has been logged."}
    }
    assert new_files() == []


# --- concurrency -------------------------------------------------------------------------------------


class CropGate:
    """Holds every crop inside its worker thread until released, and records how many run at once."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)
        self.running = 0
        self.peak = 0
        self._lock = threading.Lock()
        self._crop = imaging.crop_to_jpeg
        monkeypatch.setattr(imaging, "crop_to_jpeg", self)

    def __call__(self, *args: Any, **kwargs: Any) -> bytes:
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        self.entered.release()
        try:
            assert self.release.wait(timeout=30), "the test never released the crops"
            return self._crop(*args, **kwargs)
        finally:
            with self._lock:
                self.running -= 1

    def __enter__(self) -> "CropGate":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release.set()  # never leave a worker waiting when an assertion fails

    def wait_for(self, count: int) -> None:
        for _ in range(count):
            assert self.entered.acquire(timeout=10), "crops did not start"


def test_health_answers_while_crops_are_in_flight(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Audit 10: crops run off the event loop (at most IMAGE_CONCURRENCY at once) under real uvicorn."""
    gate = CropGate(monkeypatch)
    source = images.solid_jpeg(1200, 900)
    app = create_app(build_services(settings.model_copy(update={"image_concurrency": 2})))
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as http, ThreadPoolExecutor(4) as pool, gate:
        crops = [pool.submit(manual_crop, http, source) for _ in range(4)]
        gate.wait_for(2)
        health = http.get("/health")
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}
        assert not any(crop.done() for crop in crops), "a crop finished while the gate was closed"
        assert gate.peak == 2
        gate.release.set()
        assert [crop.result(timeout=30).status_code for crop in crops] == [200] * 4
    assert gate.peak == 2


def test_retrieval_is_not_blocked_by_running_crops(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Audit 10: reads do not queue behind the crop limiter."""
    stored = manual_crop(client, images.solid_jpeg()).json()["retrieval_url"]
    gate = CropGate(monkeypatch)
    with ThreadPoolExecutor(4) as pool, gate:
        crops = [pool.submit(manual_crop, client, images.solid_jpeg()) for _ in range(4)]
        gate.wait_for(2)
        assert client.get(stored).status_code == 200
        assert client.get("/health").status_code == 200
        gate.release.set()
        assert [crop.result(timeout=30).status_code for crop in crops] == [200] * 4


def test_smart_crop_is_accepted_while_every_crop_slot_is_busy(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Accepting a smart crop reads only the image header, so it does not wait for a crop slot."""
    gate = CropGate(monkeypatch)
    with ThreadPoolExecutor(4) as pool, gate:
        crops = [pool.submit(manual_crop, client, images.solid_jpeg()) for _ in range(4)]
        gate.wait_for(2)
        accepted = client.post(
            "/images/smart-crop",
            files={"source_image": ("a.jpg", images.solid_jpeg(), "image/jpeg")},
            data={"product_info": json.dumps({"product_id": "ABC-123"})},
        )
        assert accepted.status_code == 202, accepted.text
        assert not any(crop.done() for crop in crops), "a crop finished while the gate was closed"
        gate.release.set()
        assert [crop.result(timeout=30).status_code for crop in crops] == [200] * 4


# --- retrieval ---------------------------------------------------------------------------------------


@pytest.fixture
def stored_url(client: TestClient) -> str:
    response = manual_crop(client, images.solid_jpeg())
    assert response.status_code == 200, response.text
    url: str = response.json()["retrieval_url"]
    return url


def test_retrieval_returns_the_stored_bytes_as_image_jpeg(
    client: TestClient, settings: Settings, stored_url: str
) -> None:
    """Audit 21: the prototype opened JPEGs in text mode and failed on every real image."""
    response = client.get(stored_url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content == (settings.processed_images_dir / stored_url.removeprefix("/images/")).read_bytes()
    assert response.content.startswith(b"\xff\xd8")
    assert int(response.headers["content-length"]) == len(response.content)


def test_retrieval_sends_an_etag_and_a_long_cache_lifetime(client: TestClient, stored_url: str) -> None:
    response = client.get(stored_url)
    assert re.fullmatch(r'"[0-9a-f]+-[0-9a-f]+"', response.headers["etag"])
    assert "max-age=31536000" in response.headers["cache-control"]
    assert "immutable" in response.headers["cache-control"]


@pytest.mark.parametrize("template", ["{etag}", "W/{etag}", '"other", {etag}', "*"])
def test_a_matching_if_none_match_is_a_304_without_a_body(client: TestClient, stored_url: str, template: str) -> None:
    etag = client.get(stored_url).headers["etag"]
    response = client.get(stored_url, headers={"If-None-Match": template.format(etag=etag)})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag


def test_a_stale_if_none_match_gets_the_image(client: TestClient, stored_url: str) -> None:
    response = client.get(stored_url, headers={"If-None-Match": '"stale"'})
    assert response.status_code == 200
    assert response.content.startswith(b"\xff\xd8")


def test_head_returns_the_headers_without_the_body(client: TestClient, stored_url: str) -> None:
    get = client.get(stored_url)
    head = client.head(stored_url)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == "image/jpeg"
    assert head.headers["content-length"] == get.headers["content-length"]
    assert head.headers["etag"] == get.headers["etag"]


def test_head_of_a_missing_image_is_a_404(client: TestClient) -> None:
    assert client.head("/images/ABC-123/missing.jpg").status_code == 404


def test_a_missing_image_is_a_404_json(client: TestClient) -> None:
    """Audit 22: FileNotFoundError was a 500."""
    assert_error(client.get("/images/ABC-123/0123456789abcdef0123456789abcdef.jpg"), 404, "not_found")
    assert_error(client.get("/images/nothing-here"), 404, "not_found")


# httpx removes literal `.` and `..` segments before sending, so these only go over a raw socket.
LITERAL_DOT_SEGMENTS = [
    pytest.param("/images/../secret.jpg", id="dot-dot"),
    pytest.param("/images/ABC-123/../../secret.jpg", id="dot-dot-after-folder"),
    pytest.param("/images/./ABC-123/IMAGE", id="dot-segment"),
]
TRAVERSALS = [
    pytest.param("/images/%2e%2e/secret.jpg", id="encoded-dots"),
    pytest.param("/images/%2E%2E/secret.jpg", id="encoded-dots-upper"),
    pytest.param("/images/..%2fsecret.jpg", id="encoded-slash"),
    pytest.param("/images/%2e%2e%2fsecret.jpg", id="all-encoded"),
    pytest.param("/images/%252e%252e/secret.jpg", id="double-encoded"),
    pytest.param("/images/%252e%252e%252fsecret.jpg", id="double-encoded-slash"),
    pytest.param("/images/..%5csecret.jpg", id="encoded-backslash"),
    pytest.param("/images/..\\secret.jpg", id="backslash"),
    pytest.param("/images//SECRET_ABS", id="absolute"),
    pytest.param("/images/%2FSECRET_ABS", id="encoded-absolute"),
    pytest.param("/images/ABC-123/IMAGE%00.png", id="nul"),
    pytest.param("/images/ABC-123/IMAGE%2500", id="encoded-nul"),
    pytest.param("/images/ABC-123/outside.jpg", id="symlink-out"),
    pytest.param("/images/ABC-123/.hidden.jpg", id="dot-file"),
    pytest.param("/images/.staging/staged.jpg", id="staging-folder"),
    pytest.param("/images/.staging/STAGED_ID.upload", id="staged-upload"),
    pytest.param("/images/%2e/ABC-123/IMAGE", id="encoded-dot-segment"),
]


@pytest.fixture(scope="module")
def traversal_targets(client: TestClient, settings: Settings) -> dict[str, str]:
    """A secret JPEG beside the root, a link out of the root, a dot file and staged files inside it."""
    secret = settings.processed_images_dir.parent / "secret.jpg"
    secret.write_bytes(images.solid_jpeg(10, 10))
    stored = manual_crop(client, images.solid_jpeg()).json()
    folder = settings.processed_images_dir / "ABC-123"
    (folder / "outside.jpg").symlink_to(secret)
    (folder / ".hidden.jpg").write_bytes(secret.read_bytes())
    staging = settings.processed_images_dir / ".staging"
    (staging / "staged.jpg").write_bytes(secret.read_bytes())
    (staging / "0123abcd.upload").write_bytes(secret.read_bytes())
    return {
        "SECRET_ABS": str(secret).lstrip("/"),
        "IMAGE": f"{stored['image_id']}.jpg",
        "STAGED_ID": "0123abcd",
    }


def fill(template: str, targets: dict[str, str]) -> str:
    for name, value in targets.items():
        template = template.replace(name, value)
    return template


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_paths_are_a_404_json_in_process(
    client: TestClient, traversal_targets: dict[str, str], path: str
) -> None:
    """Audit 23: no request path reaches a file outside the root, a dot file or the staging area."""
    response = client.get(fill(path, traversal_targets))
    assert response.status_code == 404, (path, response.status_code)
    assert response.json()["error"]["code"] == "not_found"


def test_traversal_paths_are_a_404_json_over_a_real_socket(
    settings: Settings, traversal_targets: dict[str, str]
) -> None:
    """Audit 23: the same paths sent byte for byte (no client-side normalisation of `..`) to uvicorn."""
    app = create_app(build_services(settings))
    with serving(app) as url:
        for param in LITERAL_DOT_SEGMENTS + TRAVERSALS:
            path = fill(str(param.values[0]), traversal_targets)
            response = raw_request(url, "GET", path)
            assert response.status == 404, (path, response.status, response.body[:200])
            assert response.json()["error"]["code"] == "not_found", path
        image = fill("/images/ABC-123/IMAGE", traversal_targets)
        assert raw_request(url, "GET", image).status == 200


def test_an_image_whose_decode_exceeds_the_memory_budget_is_refused(
    make_client: ClientFactory, new_files: NewFiles
) -> None:
    """A progressive 4:4:4 JPEG holds 6 bytes per pixel while decoding, however small the file or the crop."""

    noise = pyvips.Image.gaussnoise(2000, 1500)
    progressive = (
        noise.bandjoin([noise, noise])
        .cast("uchar")
        .copy(interpretation="srgb")
        .jpegsave_buffer(interlace=True, subsample_mode="off")
    )
    client = make_client(image_memory_budget_bytes=16 * 1024 * 1024)
    assert_error(
        manual_crop(client, progressive, box={"x": 0, "y": 0, "width": 10, "height": 10}),
        422,
        "image_too_large",
        "source_image",
    )
    baseline = images.noisy("JPEG", 2000, 1500)
    assert manual_crop(client, baseline, box={"x": 0, "y": 0, "width": 10, "height": 10}).status_code == 200
    assert len(new_files()) == 1


def test_a_jpeg_with_hundreds_of_scans_is_refused_with_the_reason(client: TestClient) -> None:
    response = manual_crop(client, many_scans_jpeg(4000, 4000, scans=883))

    assert_error(response, 422, "image_too_complex", "source_image")
    assert "scans" in response.json()["error"]["message"]
