"""Both Lambda handlers with the storage environment Terraform gives them (S3, redirect delivery),
driven by API Gateway REST events under stage v1, S3 on moto over the wire."""

import json
from typing import Any

import httpx
import pytest

from functions.api.app import handler as api_handler
from functions.smart_crop_worker.app import handler as worker_handler
from image_processor.settings import Settings, get_settings
from tests.functions.conftest import (
    RecordedInvoke,
    following,
    lambda_context,
    load_event,
    on_custom_domain,
    with_path,
)
from tests.functions.test_api_handler import header, json_body
from tests.support import images

API = lambda_context(function_name="product-image-processor-api")


@pytest.fixture
def s3_settings(lambda_settings: Settings, s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in {"STORAGE_BACKEND": "s3", "S3_BUCKET": s3_bucket, "IMAGE_DELIVERY": "redirect"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PROCESSED_IMAGES_DIR")
    get_settings.cache_clear()
    return get_settings()


def post(path: str) -> dict[str, Any]:
    event = with_path(load_event("get_image"), path)
    event["httpMethod"] = event["requestContext"]["httpMethod"] = "POST"
    return event


def test_a_manual_crop_is_retrieved_through_a_redirect_to_s3(s3_settings: Settings) -> None:
    created = json_body(api_handler(load_event("manual_crop"), API))

    response = api_handler(following(load_event("get_image"), created["retrieval_url"]), API)

    assert response["statusCode"] == 307
    fetched = httpx.get(header(response, "location"))
    assert fetched.status_code == 200
    # The event's crop box keeps the bottom half of a red-over-blue upload: all blue.
    assert images.close_to(images.pixel(fetched.content, 32, 16), images.BLUE)


def test_a_smart_crop_runs_through_the_worker_on_s3(
    s3_settings: Settings, worker_invokes: list[RecordedInvoke]
) -> None:
    accepted = json_body(api_handler(load_event("smart_crop"), API))
    [call] = worker_invokes

    assert worker_handler(json.loads(call.payload), lambda_context())["status"] == "succeeded"

    job = json_body(api_handler(following(load_event("get_image"), accepted["status_url"]), API))
    assert job["status"] == "succeeded"
    retrieved = api_handler(following(load_event("get_image"), job["retrieval_url"]), API)
    assert retrieved["statusCode"] == 307
    assert httpx.get(header(retrieved, "location")).status_code == 200


def test_an_upload_ticket_points_at_the_bucket(s3_settings: Settings) -> None:
    response = api_handler(post("/uploads"), API)
    assert response["statusCode"] == 201
    ticket = json_body(response)
    assert ticket["url"].startswith(s3_settings.aws_endpoint_url or "")
    assert ticket["fields"]["key"] == f".uploads/{ticket['upload_id']}"


def test_the_local_upload_form_url_keeps_the_stage_or_the_custom_domain(lambda_settings: Settings) -> None:
    staged = json_body(api_handler(post("/uploads"), API))
    staged_url = f"https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/v1/uploads/{staged['upload_id']}?"
    assert staged["url"].startswith(staged_url)

    custom = json_body(api_handler(on_custom_domain(post("/uploads")), API))
    assert custom["url"].startswith(f"https://images.example.com/uploads/{custom['upload_id']}?max_bytes=")
