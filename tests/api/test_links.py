"""Image links point at PUBLIC_IMAGE_BASE_URL (a CDN) when it is set, and at the service's own paths otherwise."""

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from starlette.requests import Request

from image_processor.api import create_app
from image_processor.api.links import image_url
from image_processor.assembly import build_services
from image_processor.settings import Settings
from tests.conftest import CLIENT_IP
from tests.support import images
from tests.support.uploads import accepted_smart_crop, manual_crop

CDN = "https://d111111abcdef8.cloudfront.net"


def client_for(settings: Settings, *, root_path: str = "") -> TestClient:
    return TestClient(create_app(build_services(settings)), client=(CLIENT_IP, 50000), root_path=root_path)


def test_without_a_public_base_url_image_links_are_the_services_own_paths(settings: Settings) -> None:
    with client_for(settings, root_path="/v1") as client:
        body = manual_crop(client, images.solid_jpeg())
        assert body.status_code == 200, body.text
        assert body.json()["retrieval_url"] == f"/v1/images/ABC-123/{body.json()['image_id']}.jpg"


def test_with_a_public_base_url_results_are_linked_on_the_cdn_and_the_same_path_serves_them(
    settings: Settings,
) -> None:
    with client_for(settings.model_copy(update={"public_image_base_url": CDN}), root_path="/v1") as client:
        response = manual_crop(client, images.solid_jpeg())
        assert response.status_code == 200, response.text
        body = response.json()
        # The stage prefix belongs to the API's address, not the CDN's: the CDN adds it on its way to the API.
        assert body["retrieval_url"] == f"{CDN}/images/ABC-123/{body['image_id']}.jpg"
        # The CDN fetches the same path from the service when it does not hold the object yet.
        served = client.get(body["retrieval_url"].removeprefix(CDN))
        assert served.status_code == 200
        assert served.headers["content-type"] == "image/jpeg"


def test_with_a_public_base_url_a_smart_crop_links_its_result_on_the_cdn_and_its_status_on_the_service(
    settings: Settings,
) -> None:
    with client_for(settings.model_copy(update={"public_image_base_url": f"{CDN}/shop"})) as client:
        body = accepted_smart_crop(client, images.solid_jpeg(64, 48))
        assert body["retrieval_url"] == f"{CDN}/shop/images/ABC-123/{body['image_id']}.jpg"
        assert body["status_url"] == f"/jobs/{body['image_id']}"
        assert client.get(body["status_url"]).status_code == 200


def test_the_public_base_url_is_read_from_the_environment_and_loses_its_trailing_slash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PUBLIC_IMAGE_BASE_URL", f"{CDN}/")
    assert Settings().public_image_base_url == CDN
    monkeypatch.setenv("PUBLIC_IMAGE_BASE_URL", "")
    assert Settings().public_image_base_url is None


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("http://cdn.example.com", id="plain-http"),
        pytest.param("ftp://cdn.example.com", id="not-http"),
        pytest.param("cdn.example.com", id="no-scheme"),
        pytest.param("https://cdn.example.com/?v=1", id="query"),
        pytest.param("https://cdn.example.com/#top", id="fragment"),
        pytest.param("https://user:secret@cdn.example.com", id="credentials"),
    ],
)
def test_a_public_base_url_that_is_not_a_plain_https_url_stops_start_up(value: str) -> None:
    with pytest.raises(ValidationError, match="PUBLIC_IMAGE_BASE_URL"):
        Settings(public_image_base_url=value)


def test_plain_http_is_allowed_to_a_loopback_address_for_a_local_cdn() -> None:
    assert Settings(public_image_base_url="http://127.0.0.1:8080/").public_image_base_url == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    ("base", "root_path", "expected"),
    [
        pytest.param(None, "", "/images/ABC-123/abc/listing", id="service"),
        pytest.param(None, "/v1", "/v1/images/ABC-123/abc/listing", id="service-stage"),
        pytest.param(CDN, "/v1", f"{CDN}/images/ABC-123/abc/listing", id="cdn"),
    ],
)
def test_rendition_links_are_built_like_results(
    settings: Settings, base: str | None, root_path: str, expected: str
) -> None:
    """The renditions' links go through the same builder, so they follow PUBLIC_IMAGE_BASE_URL too."""
    app = create_app(build_services(settings.model_copy(update={"public_image_base_url": base})))
    request = Request({"type": "http", "app": app, "root_path": root_path, "path": "/", "headers": []})
    assert image_url(request, "ABC-123/abc/listing") == expected
