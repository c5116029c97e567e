"""Crops and retrieval through the API on both image stores (the file system, and S3 on moto over the wire),
and IMAGE_DELIVERY=redirect on S3."""

from collections.abc import Iterator

import boto3
import httpx
import pytest
from fastapi.testclient import TestClient

from image_processor.settings import Settings
from tests.support import images
from tests.support.apps import app_client
from tests.support.uploads import assert_error, manual_crop


@pytest.fixture(params=["filesystem", "s3"])
def storage_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def stored_url(client: TestClient) -> str:
    response = manual_crop(client, images.solid_jpeg(colour=images.BLUE))
    assert response.status_code == 200, response.text
    return str(response.json()["retrieval_url"])


def test_a_manual_crop_is_served_back_as_the_jpeg_it_stored(client: TestClient, stored_url: str) -> None:
    response = client.get(stored_url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert int(response.headers["content-length"]) == len(response.content)
    assert images.close_to(images.pixel(response.content, 50, 50), images.BLUE)


def test_etag_head_and_304_work_the_same_on_both_backends(client: TestClient, stored_url: str) -> None:
    full = client.get(stored_url)
    etag = full.headers["etag"]

    head = client.head(stored_url)
    not_modified = client.get(stored_url, headers={"If-None-Match": etag})

    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == etag
    assert head.headers["content-length"] == str(len(full.content))
    assert not_modified.status_code == 304 and not_modified.content == b""


@pytest.mark.parametrize(
    "path",
    [
        "/images/ABC-123/0123456789abcdef0123456789abcdef.jpg",
        "/images/%2e%2e/secret.jpg",
        "/images/..%2F..%2Fsecret.jpg",
        "/images/ABC-123%5C..%5Csecret.jpg",
        "/images/ABC-123/x.jpg%00",
        "/images/.staging/staged.jpg",
        "/images/.uploads/upload.jpg",
    ],
)
def test_missing_images_and_traversal_are_a_json_404(client: TestClient, path: str) -> None:
    assert_error(client.get(path), 404, "not_found")
    assert client.head(path).status_code == 404


@pytest.mark.parametrize("storage_backend", ["s3"])
def test_the_crop_lands_in_the_bucket_under_its_key(
    client: TestClient, stored_url: str, settings: Settings, aws_endpoint: str
) -> None:
    s3 = boto3.client("s3", endpoint_url=aws_endpoint, region_name="us-east-1")
    key = stored_url.removeprefix("/images/")
    stored = s3.get_object(Bucket=settings.s3_bucket or "", Key=key)
    assert stored["ContentType"] == "image/jpeg"
    assert stored["Body"].read() == client.get(stored_url).content


@pytest.fixture
def redirecting(settings: Settings) -> Iterator[TestClient]:
    with app_client(settings.model_copy(update={"image_delivery": "redirect"})) as test_client:
        yield test_client


@pytest.mark.parametrize("storage_backend", ["s3"])
def test_redirect_delivery_answers_307_to_a_presigned_url_that_serves_the_jpeg(
    redirecting: TestClient, stored_url: str, client: TestClient
) -> None:
    response = redirecting.get(stored_url, follow_redirects=False)

    assert response.status_code == 307
    assert response.headers["cache-control"] == "no-store"
    location = response.headers["location"]
    assert location.startswith("http://127.0.0.1:") and "X-Amz-Expires=300" in location
    fetched = httpx.get(location)  # straight from the emulator, not through the service
    assert fetched.status_code == 200
    assert fetched.content == client.get(stored_url).content


@pytest.mark.parametrize("storage_backend", ["s3"])
def test_redirect_delivery_keeps_head_304_and_the_json_404(redirecting: TestClient, stored_url: str) -> None:
    head = redirecting.head(stored_url)
    assert head.status_code == 200 and head.headers["content-type"] == "image/jpeg"
    assert redirecting.get(stored_url, headers={"If-None-Match": head.headers["etag"]}).status_code == 304
    assert_error(redirecting.get("/images/ABC-123/missing.jpg", follow_redirects=False), 404, "not_found")


def test_redirect_delivery_needs_s3() -> None:
    with pytest.raises(ValueError, match="IMAGE_DELIVERY=redirect needs STORAGE_BACKEND=s3"):
        Settings(image_delivery="redirect")
    with pytest.raises(ValueError, match="STORAGE_BACKEND=s3 needs S3_BUCKET"):
        Settings(storage_backend="s3")


def test_ready_checks_the_image_store(client: TestClient) -> None:
    assert client.get("/ready").status_code == 200


@pytest.mark.parametrize("storage_backend", ["s3"])
def test_ready_is_a_503_naming_storage_when_the_bucket_is_gone(
    client: TestClient, settings: Settings, aws_endpoint: str
) -> None:
    s3 = boto3.client("s3", endpoint_url=aws_endpoint, region_name="us-east-1")
    s3.delete_bucket(Bucket=settings.s3_bucket or "")

    response = client.get("/ready")

    assert response.status_code == 503
    assert "storage" in response.text
