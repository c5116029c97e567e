"""GET/HEAD /images/{product_id}/{image_id}/{preset}[.ext]: presets, negotiation, caching, made once and stored,
coalesced, and eager renditions on both crop endpoints; on the file system and on S3 (moto over the wire)."""

import dataclasses
import io
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import pyvips
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import ValidationError

from image_processor import imaging
from image_processor.api import create_app
from image_processor.assembly import build_services
from image_processor.presets import Preset, RenditionFormat
from image_processor.renditions import RenditionMaker, RenditionService
from image_processor.services import Services
from image_processor.settings import Settings
from tests.conftest import CLIENT_IP
from tests.support import images
from tests.support.uploads import assert_error, manual_crop

PRESETS = ("thumbnail", "listing", "zoom")
MAGIC = {"jpg": b"\xff\xd8\xff", "webp": b"RIFF", "avif": b"ftypavif"}
MEDIA = {"jpg": "image/jpeg", "webp": "image/webp", "avif": "image/avif"}


@dataclass
class CountingRenderer:
    """libvips's renderer, counting its calls; with a gate, each call waits until the test opens it."""

    settings: Settings
    gate: threading.Event | None = None
    calls: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, data: bytes, preset: Preset, fmt: RenditionFormat) -> bytes:
        with self._lock:
            self.calls.append((f"{preset.width}x{preset.height}", fmt))
        if self.gate is not None:
            assert self.gate.wait(timeout=30), "the test never opened the gate"
        return imaging.render(data, preset, fmt, max_pixels=self.settings.max_image_pixels)


@pytest.fixture(params=["filesystem", "s3"])
def storage_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def renderer(settings: Settings) -> CountingRenderer:
    return CountingRenderer(settings)


@pytest.fixture
def services(settings: Settings, renderer: CountingRenderer) -> Services:
    return build_services(settings, renderer=renderer)


def api(services: Services) -> TestClient:
    return TestClient(create_app(services), client=(CLIENT_IP, 50000))


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with api(services) as test_client:
        yield test_client


def stored_image(client: TestClient, source: bytes | None = None, **crop: Any) -> str:
    """A manual crop of `source` (a 400x300 red JPEG by default), whole unless `crop` says; its rendition base."""
    source = source or images.solid_jpeg(400, 300)
    with Image.open(io.BytesIO(source)) as image:
        box = {"x": 0, "y": 0, "width": image.width, "height": image.height} | crop
    response = manual_crop(client, source, box=box)
    assert response.status_code == 200, response.text
    return str(response.json()["retrieval_url"]).removesuffix(".jpg")


def size_of(data: bytes) -> tuple[int, int]:
    image = pyvips.Image.new_from_buffer(data, "")
    return image.width, image.height


def rgb(data: bytes, x: int, y: int) -> tuple[int, int, int]:
    red, green, blue = pyvips.Image.new_from_buffer(data, "").getpoint(x, y)[:3]
    return round(red), round(green), round(blue)


# --- formats, negotiation, caching ------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jpg", "webp", "avif"])
def test_each_extension_serves_that_format_with_immutable_cache_headers(client: TestClient, fmt: str) -> None:
    response = client.get(f"{stored_image(client)}/thumbnail.{fmt}")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == MEDIA[fmt]
    assert MAGIC[fmt] in response.content[:16]
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["etag"].startswith('"') and not response.headers["etag"].startswith("W/")
    assert "vary" not in response.headers
    assert size_of(response.content) == (200, 150)


@pytest.mark.parametrize(
    ("accept", "fmt"),
    [
        ("image/avif,image/webp,image/apng,image/*,*/*;q=0.8", "avif"),
        ("image/webp,*/*", "webp"),
        ("image/avif;q=0, image/webp;q=0.5", "webp"),
        ("*/*", "jpg"),
        ("image/*", "jpg"),
        (None, "jpg"),
    ],
)
def test_without_an_extension_the_format_follows_accept_and_the_answer_varies_on_it(
    client: TestClient, accept: str | None, fmt: str
) -> None:
    headers = {"Accept": accept} if accept is not None else {}
    response = client.get(f"{stored_image(client)}/listing", headers=headers)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == MEDIA[fmt]
    assert MAGIC[fmt] in response.content[:16]
    assert response.headers["vary"] == "Accept"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_if_none_match_is_a_304_and_head_gives_the_headers_without_a_body(client: TestClient) -> None:
    url = f"{stored_image(client)}/thumbnail"
    avif = {"Accept": "image/avif"}
    full = client.get(url, headers=avif)

    head = client.head(url, headers=avif)
    not_modified = client.get(url, headers={**avif, "If-None-Match": full.headers["etag"]})
    other_format = client.get(url, headers={"Accept": "image/webp", "If-None-Match": full.headers["etag"]})

    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == full.headers["etag"]
    assert head.headers["content-length"] == str(len(full.content))
    assert head.headers["content-type"] == "image/avif" and head.headers["vary"] == "Accept"
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["vary"] == "Accept"
    assert other_format.status_code == 200 and other_format.headers["content-type"] == "image/webp"


def test_a_head_before_any_get_makes_the_rendition_and_the_get_serves_the_same(
    client: TestClient, renderer: CountingRenderer
) -> None:
    url = f"{stored_image(client)}/zoom.webp"
    head = client.head(url)
    get = client.get(url)
    assert head.status_code == get.status_code == 200
    assert head.headers["etag"] == get.headers["etag"]
    assert int(head.headers["content-length"]) == len(get.content)
    assert len(renderer.calls) == 1


@pytest.mark.parametrize(
    "path",
    [
        "{base}/huge",
        "{base}/huge.jpg",
        "{base}/thumbnail.png",
        "{base}/thumbnail.jpeg",
        "{base}/thumbnail.",
        "{base}/thumbnail.jpg.webp",
        "/images/ABC-123/0123456789abcdef0123456789abcdef/thumbnail",
        "/images/ABC-123/0123456789abcdef0123456789abcdef/thumbnail.jpg",
        "/images/.staging/0123456789abcdef0123456789abcdef/thumbnail.jpg",
        "/images/ABC-123/not-an-id/thumbnail.jpg",
        "/images/ABC-123/%2e%2e/thumbnail.jpg",
    ],
)
def test_an_unknown_preset_format_or_image_is_the_json_404(client: TestClient, path: str) -> None:
    url = path.format(base=stored_image(client))
    assert_error(client.get(url), 404, "not_found")
    assert client.head(url).status_code == 404


def test_the_image_route_still_serves_the_jpeg_it_stored(client: TestClient) -> None:
    base = stored_image(client)
    response = client.get(f"{base}.jpg")
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert size_of(response.content) == (400, 300)


@pytest.mark.parametrize("storage_backend", ["filesystem"])
def test_without_an_avif_encoder_avif_is_neither_negotiated_nor_served(
    services: Services, renderer: CountingRenderer
) -> None:
    """A libvips built without an AV1 encoder: AVIF is refused by name, and negotiation skips it."""
    maker = RenditionMaker(
        services.storage.results, services.renditions.catalogue, renderer, formats=frozenset({"jpg", "webp"})
    )
    without_avif = dataclasses.replace(
        services, renditions=RenditionService(services.storage.results, services.images, maker)
    )
    with api(without_avif) as client:
        base = stored_image(client)
        refused = client.get(f"{base}/thumbnail.avif")
        negotiated = client.get(f"{base}/thumbnail", headers={"Accept": "image/avif,image/webp"})

    assert_error(refused, 404, "not_found")
    assert "served as webp, jpg" in refused.json()["error"]["message"]
    assert negotiated.headers["content-type"] == "image/webp"


# --- made once, stored, coalesced -------------------------------------------------------------


def test_a_rendition_is_made_once_and_then_served_from_storage(
    client: TestClient, renderer: CountingRenderer, settings: Settings, aws_endpoint: str
) -> None:
    base = stored_image(client)
    first = client.get(f"{base}/listing.webp")
    second = client.get(f"{base}/listing.webp")

    assert first.status_code == second.status_code == 200
    assert first.content == second.content and first.headers["etag"] == second.headers["etag"]
    assert renderer.calls == [("600x600", "webp")]
    key = f"{base.removeprefix('/images/')}/listing.webp"
    assert stored_bytes(settings, aws_endpoint, key) == first.content


def stored_bytes(settings: Settings, aws_endpoint: str, key: str) -> bytes | None:
    if settings.storage_backend == "s3":
        s3 = boto3.client("s3", endpoint_url=aws_endpoint, region_name="us-east-1")
        try:
            body: bytes = s3.get_object(Bucket=settings.s3_bucket or "", Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None
        return body
    path = settings.processed_images_dir.joinpath(*key.split("/"))
    return path.read_bytes() if path.is_file() else None


def test_sixteen_simultaneous_first_requests_cost_one_generation(
    client: TestClient, renderer: CountingRenderer
) -> None:
    url = f"{stored_image(client, images.encode(Image.effect_noise((1600, 1200), 60).convert('RGB')))}/listing.webp"
    renderer.gate = threading.Event()
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = [pool.submit(client.get, url) for _ in range(16)]
        renderer.gate.set()
        responses = [answer.result(timeout=60) for answer in answers]

    assert [response.status_code for response in responses] == [200] * 16
    assert len({response.content for response in responses}) == 1
    assert len({response.headers["etag"] for response in responses}) == 1
    assert renderer.calls == [("600x600", "webp")]


def test_processes_racing_to_store_one_rendition_both_serve_the_first_writers_bytes(
    settings: Settings, services: Services
) -> None:
    """Two services on one store stand for two processes: each renders, one stores, both answer its bytes."""
    both_rendered = threading.Barrier(2, timeout=30)

    def racing_renderer(marker: bytes) -> Callable[[bytes, Preset, RenditionFormat], bytes]:
        def render(data: bytes, preset: Preset, fmt: RenditionFormat) -> bytes:
            both_rendered.wait()
            return MAGIC["jpg"] + marker

        return render

    with api(services) as setup:
        url = f"{stored_image(setup)}/thumbnail.jpg"
    first = build_services(settings, renderer=racing_renderer(b"first"))
    second = build_services(settings, renderer=racing_renderer(b"second"))
    with api(first) as one, api(second) as two, ThreadPoolExecutor(max_workers=2) as pool:
        answers = [pool.submit(one.get, url), pool.submit(two.get, url)]
        responses = [answer.result(timeout=60) for answer in answers]
        again = one.get(url)

    assert [response.status_code for response in responses] == [200, 200]
    assert responses[0].content == responses[1].content == again.content
    assert responses[0].content in {MAGIC["jpg"] + b"first", MAGIC["jpg"] + b"second"}
    assert responses[0].headers["etag"] == responses[1].headers["etag"] == again.headers["etag"]


# --- geometry: never enlarged, padded, trimmed --------------------------------------------------


@pytest.mark.parametrize("storage_backend", ["filesystem"])
def test_no_preset_enlarges_a_small_image_and_listing_pads_it_more(client: TestClient) -> None:
    base = stored_image(client, images.solid_jpeg(150, 100, images.BLUE))

    thumbnail = client.get(f"{base}/thumbnail.jpg").content
    zoom = client.get(f"{base}/zoom.jpg").content
    listing = client.get(f"{base}/listing.jpg").content

    assert size_of(thumbnail) == size_of(zoom) == (150, 100)
    assert size_of(listing) == (600, 600)
    # The 150x100 image, not enlarged, in the middle of the white square: x 225-375, y 250-350.
    assert images.close_to(rgb(listing, 300, 300), images.BLUE)
    assert images.close_to(rgb(listing, 230, 255), images.BLUE)
    assert images.close_to(rgb(listing, 370, 345), images.BLUE)
    for x, y in ((220, 300), (380, 300), (300, 245), (300, 355), (0, 0), (599, 599)):
        assert images.close_to(rgb(listing, x, y), images.WHITE, tolerance=8), (x, y)


@pytest.mark.parametrize("storage_backend", ["filesystem"])
def test_listing_fits_a_wide_image_and_centres_it_on_white(client: TestClient) -> None:
    base = stored_image(client, images.solid_jpeg(1200, 400, images.GREEN))

    listing = client.get(f"{base}/listing.jpg").content

    # Fitted to 600x200, with 200 white rows above and below.
    assert size_of(listing) == (600, 600)
    for y, colour in ((5, images.WHITE), (195, images.WHITE), (205, images.GREEN), (395, images.GREEN)):
        assert images.close_to(rgb(listing, 300, y), colour, tolerance=10), y
    assert images.close_to(rgb(listing, 300, 405), images.WHITE, tolerance=10)
    assert images.close_to(rgb(listing, 2, 300), images.GREEN) and images.close_to(rgb(listing, 597, 300), images.GREEN)


@pytest.mark.parametrize("storage_backend", ["filesystem"])
def test_renditions_are_8_bit_srgb_without_metadata(client: TestClient) -> None:
    base = stored_image(client, images.jpeg_with_gps())
    for fmt in ("jpg", "webp", "avif"):
        rendition = pyvips.Image.new_from_buffer(client.get(f"{base}/thumbnail.{fmt}").content, "")
        assert (rendition.format, rendition.bands, rendition.interpretation) == ("uchar", 3, "srgb")
        fields = set(rendition.get_fields())
        assert not fields & {"exif-data", "xmp-data", "iptc-data", "icc-profile-data"}, fmt


# --- operators' presets ---------------------------------------------------------------------------

OPERATOR_PRESETS = """
hero:
  width: 300
  height: 100
  fit: cover
  formats: [jpg, webp]
  quality: {jpg: 70}
square:
  width: 200
  height: 200
  fit: pad
  background: "#000000"
  margin_percent: 10
  trim: true
thumbnail:
  width: 50
  height: 50
"""


@pytest.fixture
def operator_client(settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    path = tmp_path / "renditions.yaml"
    path.write_text(OPERATOR_PRESETS)
    with api(build_services(settings.model_copy(update={"renditions_file": path}))) as test_client:
        yield test_client


@pytest.mark.parametrize("storage_backend", ["filesystem"])
def test_an_operator_file_adds_presets_and_replaces_built_in_ones(operator_client: TestClient) -> None:
    response = manual_crop(
        operator_client, images.solid_jpeg(400, 400), box={"x": 0, "y": 0, "width": 400, "height": 400}
    )
    body = response.json()
    base = body["retrieval_url"].removesuffix(".jpg")

    assert set(body["renditions"]) == {"thumbnail", "listing", "zoom", "hero", "square"}
    assert size_of(operator_client.get(f"{base}/thumbnail.jpg").content) == (50, 50)
    assert size_of(operator_client.get(f"{base}/hero.jpg").content) == (300, 100)
    assert (
        operator_client.get(f"{base}/hero", headers={"Accept": "image/avif,image/webp"}).headers["content-type"]
        == "image/webp"
    )
    assert_error(operator_client.get(f"{base}/hero.avif"), 404, "not_found")


@pytest.mark.parametrize("storage_backend", ["filesystem"])
def test_trim_cuts_a_uniform_border_before_fitting(operator_client: TestClient) -> None:
    # A 300x150 blue product on a 400x400 white photo; `square` trims the white, fits inside the 10% margin
    # (160x160) and pads on black: 160x80 of blue in the middle.
    photo = Image.new("RGB", (400, 400), images.WHITE)
    photo.paste(images.BLUE, (60, 30, 360, 180))
    base = stored_image(operator_client, images.encode(photo, quality=95))

    square = operator_client.get(f"{base}/square.jpg").content

    assert size_of(square) == (200, 200)
    assert images.close_to(rgb(square, 100, 100), images.BLUE)
    assert images.close_to(rgb(square, 25, 65), images.BLUE) and images.close_to(rgb(square, 175, 135), images.BLUE)
    for x, y in ((15, 100), (185, 100), (100, 55), (100, 145), (0, 0)):
        assert images.close_to(rgb(square, x, y), (0, 0, 0), tolerance=12), (x, y)


@pytest.mark.parametrize(
    ("text", "suffix", "expected"),
    [
        ("hero:\n  width: 0\n  height: 100\n", ".yaml", "preset 'hero', field 'width'"),
        ("hero:\n  width: 10\n  height: 10\n  fit: stretch\n", ".yaml", "preset 'hero', field 'fit'"),
        ('{"hero": {"width": 10, "height": 10, "formats": ["webp"]}}', ".json", "preset 'hero', field 'formats'"),
        (
            '{"hero": {"width": 10, "height": 10, "quality": {"webp": 101}}}',
            ".json",
            "preset 'hero', field 'quality.webp'",
        ),
        ("hero:\n  width: 10\n  height: 10\n  background: red\n", ".yml", "preset 'hero', field 'background'"),
        ("hero:\n  width: 10\n  height: 10\n  colour: red\n", ".yaml", "preset 'hero', field 'colour'"),
        ("Hero Shot:\n  width: 10\n  height: 10\n", ".yaml", "preset name 'Hero Shot'"),
        ("hero: [10, 10\n", ".yaml", "is not valid YAML"),
    ],
)
def test_an_invalid_renditions_file_stops_start_up_naming_the_preset_and_field(
    tmp_path: Path, text: str, suffix: str, expected: str
) -> None:
    path = tmp_path / f"renditions{suffix}"
    path.write_text(text)
    with pytest.raises(ValidationError, match="RENDITIONS_FILE") as raised:
        Settings(renditions_file=path)
    assert expected in str(raised.value)


# --- eager renditions ---------------------------------------------------------------------------


def test_a_manual_crop_makes_the_renditions_it_names_before_its_200(
    client: TestClient, renderer: CountingRenderer, settings: Settings, aws_endpoint: str
) -> None:
    response = client.post(
        "/images/manual-crop",
        files={"source_image": ("photo.jpg", images.solid_jpeg(400, 300), "image/jpeg")},
        data={
            "product_info": json.dumps({"product_id": "ABC-123"}),
            "crop_box": json.dumps({"x": 0, "y": 0, "width": 400, "height": 300}),
            "renditions": json.dumps(["thumbnail", "listing"]),
        },
    )

    assert response.status_code == 200, response.text
    body = response.json()
    prefix = f"ABC-123/{body['image_id']}"
    assert body["renditions"] == {preset: f"/images/{prefix}/{preset}" for preset in PRESETS}
    assert sorted(renderer.calls) == sorted((size, fmt) for size in ("200x200", "600x600") for fmt in MAGIC)
    for preset in ("thumbnail", "listing"):
        for fmt in MAGIC:
            assert stored_bytes(settings, aws_endpoint, f"{prefix}/{preset}.{fmt}") is not None
    assert stored_bytes(settings, aws_endpoint, f"{prefix}/zoom.jpg") is None
    assert client.get(f"/images/{prefix}/listing.avif").status_code == 200
    assert len(renderer.calls) == 6


@pytest.mark.parametrize("endpoint", ["manual-crop", "smart-crop"])
@pytest.mark.parametrize(
    ("renditions", "message"),
    [
        ('["thumbnail", "huge"]', "'huge'"),
        ('"thumbnail"', "JSON list"),
        ("[1]", "JSON list"),
        ("thumbnail", "JSON list"),
    ],
)
@pytest.mark.parametrize("storage_backend", ["filesystem"])
def test_an_unknown_or_malformed_rendition_name_is_a_422_naming_it(
    client: TestClient, endpoint: str, renditions: str, message: str
) -> None:
    data = {"product_info": json.dumps({"product_id": "ABC-123"}), "renditions": renditions}
    if endpoint == "manual-crop":
        data["crop_box"] = json.dumps({"x": 0, "y": 0, "width": 10, "height": 10})
    response = client.post(
        f"/images/{endpoint}", files={"source_image": ("a.jpg", images.solid_jpeg(), "image/jpeg")}, data=data
    )
    assert_error(response, 422, "invalid_request", "renditions")
    assert message in response.json()["error"]["message"]


def test_a_smart_crop_job_makes_its_renditions_before_it_succeeds(
    client: TestClient, renderer: CountingRenderer, settings: Settings, aws_endpoint: str
) -> None:
    response = client.post(
        "/images/smart-crop",
        files={"source_image": ("photo.jpg", images.solid_jpeg(320, 240), "image/jpeg")},
        data={"product_info": json.dumps({"product_id": "ABC-123"}), "renditions": '["thumbnail"]'},
    )
    assert response.status_code == 202, response.text
    accepted = response.json()
    prefix = f"ABC-123/{accepted['image_id']}"
    assert accepted["renditions"] == {preset: f"/images/{prefix}/{preset}" for preset in PRESETS}

    job = wait_for_job(client, accepted["status_url"])

    assert job["status"] == "succeeded", job
    assert job["renditions"] == accepted["renditions"]
    made = {fmt: stored_bytes(settings, aws_endpoint, f"{prefix}/thumbnail.{fmt}") for fmt in MAGIC}
    assert all(made.values()), made
    assert sorted(renderer.calls) == sorted(("200x200", fmt) for fmt in MAGIC)
    assert client.get(f"/images/{prefix}/thumbnail.webp").content == made["webp"]
    assert len(renderer.calls) == 3


def wait_for_job(client: TestClient, status_url: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for _ in range(600):
        body = client.get(status_url).json()
        if body["status"] in ("succeeded", "failed"):
            return body
        threading.Event().wait(0.05)
    raise AssertionError(f"{status_url} never finished: {body}")


# --- IMAGE_DELIVERY=redirect on S3 ----------------------------------------------------------------


@pytest.mark.parametrize("storage_backend", ["s3"])
def test_redirect_delivery_makes_the_rendition_then_answers_307_to_its_stored_object(
    client: TestClient, settings: Settings, renderer: CountingRenderer
) -> None:
    base = stored_image(client)
    redirecting = build_services(settings.model_copy(update={"image_delivery": "redirect"}), renderer=renderer)
    with api(redirecting) as redirect_client:
        response = redirect_client.get(f"{base}/listing", headers={"Accept": "image/avif"}, follow_redirects=False)
        head = redirect_client.head(f"{base}/listing", headers={"Accept": "image/avif"})

    assert response.status_code == 307
    assert response.headers["cache-control"] == "no-store" and response.headers["vary"] == "Accept"
    fetched = httpx.get(response.headers["location"])  # straight from the emulator
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "image/avif"
    assert fetched.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert MAGIC["avif"] in fetched.content[:16]
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(fetched.content)
    assert renderer.calls == [("600x600", "avif")]
