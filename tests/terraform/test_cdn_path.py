"""The CDN's path from link to bytes, with the real pieces: the link the API hands out, the CloudFront
Function (in node) that maps it to a bucket key, the object the S3 store wrote under that key, and the API
that answers when the bucket does not hold it (the origin group's second origin, /v1/images + the key).
"""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient

from image_processor.api import create_app
from image_processor.assembly import build_services
from image_processor.settings import Settings
from tests.conftest import CLIENT_IP
from tests.support import images
from tests.support.uploads import assert_error, manual_crop
from tests.terraform.test_cdn_function import NODE, run, viewer_request

CDN = "https://d111111abcdef8.cloudfront.net"

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed, so the CloudFront Function cannot run")


@pytest.fixture
def storage_backend() -> str:
    return "s3"


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    app = create_app(build_services(settings.model_copy(update={"public_image_base_url": CDN})))
    # The stage the API origin's path carries (origin_path = /v1/images).
    with TestClient(app, client=(CLIENT_IP, 50000), root_path="/v1") as client:
        yield client


def cdn_key(link: str, tmp_path: Any) -> str:
    """The bucket key CloudFront asks for when a viewer follows `link`."""
    assert link.startswith(f"{CDN}/")
    (request,) = run([viewer_request(link.removeprefix(CDN), "image/avif,image/webp,*/*")], tmp_path)
    uri: str = request["uri"]
    return uri.removeprefix("/")


def test_a_linked_result_is_read_from_the_bucket_under_the_key_the_function_maps_it_to(
    api: TestClient, s3_bucket: str, aws_endpoint: str, tmp_path: Any
) -> None:
    created = manual_crop(api, images.solid_jpeg())
    assert created.status_code == 200, created.text
    key = cdn_key(created.json()["retrieval_url"], tmp_path)

    s3 = boto3.client("s3", endpoint_url=aws_endpoint, region_name="us-east-1")
    stored = s3.get_object(Bucket=s3_bucket, Key=key)
    assert stored["ContentType"] == "image/jpeg"
    # The same bytes the API would serve: the bucket origin and the API origin agree.
    assert stored["Body"].read() == api.get(f"/images/{key}").content


def test_what_the_bucket_does_not_hold_is_asked_of_the_api_and_an_unknown_image_stays_a_json_404(
    api: TestClient, s3_bucket: str, aws_endpoint: str, tmp_path: Any
) -> None:
    key = cdn_key(f"{CDN}/images/ABC-123/0123456789abcdef0123456789abcdef.jpg", tmp_path)
    s3 = boto3.client("s3", endpoint_url=aws_endpoint, region_name="us-east-1")
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=s3_bucket, Key=key)
    # The origin group's second origin: the stage's path, /images, then the key.
    assert_error(api.get(f"/images/{key}"), 404, "not_found")
