"""functions/api driven by recorded API Gateway REST proxy events, as Lambda would call it."""

import base64
import io
import json
from typing import Any

import pytest
from PIL import Image

from functions.api.app import handler
from image_processor.settings import Settings
from image_processor.storage_fs import FileSystemImageStore
from tests.functions.conftest import (
    RecordedInvoke,
    following,
    lambda_context,
    load_event,
    on_custom_domain,
    with_path,
    with_source_ip,
)
from tests.support import images

API_CONTEXT = lambda_context(
    function_name="product-image-processor-api",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:product-image-processor-api",
)


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = handler(event, API_CONTEXT)
    return response


def json_body(response: dict[str, Any]) -> Any:
    body = response["body"]
    return json.loads(base64.b64decode(body) if response.get("isBase64Encoded") else body)


def header(response: dict[str, Any], name: str) -> str:
    headers = {key.lower(): value for key, value in (response.get("headers") or {}).items()}
    multi = {key.lower(): values for key, values in (response.get("multiValueHeaders") or {}).items()}
    return str(headers.get(name.lower()) or multi[name.lower()][0])


def test_manual_crop_of_a_base64_multipart_upload(lambda_settings: Settings) -> None:
    response = invoke(load_event("manual_crop"))

    assert response["statusCode"] == 200, response
    body = json_body(response)
    assert body["retrieval_url"].startswith("/v1/images/ABC-123/")
    assert (lambda_settings.processed_images_dir / body["retrieval_url"].removeprefix("/v1/images/")).is_file()


def test_retrieval_returns_the_jpeg_base64_encoded(lambda_settings: Settings) -> None:
    created = json_body(invoke(load_event("manual_crop")))

    response = invoke(following(load_event("get_image"), created["retrieval_url"]))

    assert response["statusCode"] == 200
    assert response["isBase64Encoded"] is True
    assert header(response, "content-type") == "image/jpeg"
    jpeg = base64.b64decode(response["body"])
    # The event's crop box keeps the bottom half of a red-over-blue upload: 64x32, all blue.
    with Image.open(io.BytesIO(jpeg)) as decoded:
        assert decoded.size == (64, 32)
    for x, y in ((4, 4), (32, 16), (60, 28)):
        assert images.close_to(images.pixel(jpeg, x, y), images.BLUE)


def test_retrieval_of_a_missing_image_is_a_json_404(lambda_settings: Settings) -> None:
    response = invoke(load_event("get_image"))

    assert response["statusCode"] == 404
    assert json_body(response)["error"]["code"]


def test_smart_crop_is_accepted_and_queued_with_one_async_invoke(
    lambda_settings: Settings, worker_invokes: list[RecordedInvoke]
) -> None:
    """Audit 15: under Lambda the work is an asynchronous Invoke, not BackgroundTasks."""
    response = invoke(load_event("smart_crop"))

    assert response["statusCode"] == 202, response
    body = json_body(response)
    assert len(worker_invokes) == 1
    call = worker_invokes[0]
    assert call.function_name == lambda_settings.worker_function_name
    assert call.invocation_type == "Event"
    assert call.status_code == 202  # moto's Lambda accepted an asynchronous invocation
    assert json.loads(call.payload) == {"image_id": body["image_id"]}
    assert len(call.payload) < 100  # the image travels through shared storage, never in the event
    assert (lambda_settings.processed_images_dir / ".staging").is_dir()


def test_rate_limit_counts_the_api_gateway_source_ip_not_x_forwarded_for(
    lambda_settings: Settings, worker_invokes: list[RecordedInvoke]
) -> None:
    event = load_event("smart_crop")
    limit = lambda_settings.rate_limit_requests
    for attempt in range(limit):
        forged = with_source_ip(event, "198.51.100.23")
        forged["headers"]["X-Forwarded-For"] = f"203.0.113.{attempt}"
        forged["multiValueHeaders"]["X-Forwarded-For"] = [f"203.0.113.{attempt}"]
        assert invoke(forged)["statusCode"] == 202

    refused = invoke(with_source_ip(event, "198.51.100.23"))
    assert refused["statusCode"] == 429
    assert json_body(refused)["error"]["code"]
    assert int(header(refused, "retry-after")) > 0

    # Another client is unaffected, even one claiming to forward for the limited address.
    other = with_source_ip(event, "198.51.100.77")
    other["headers"]["X-Forwarded-For"] = "198.51.100.23"
    other["multiValueHeaders"]["X-Forwarded-For"] = ["198.51.100.23"]
    assert invoke(other)["statusCode"] == 202
    assert len(worker_invokes) == limit + 1


def test_start_up_runs_once_per_execution_environment(
    lambda_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not once per invocation, as Mangum's lifespan="auto" would."""
    started: list[str] = []
    real_ensure_ready = FileSystemImageStore.ensure_ready

    def counted(store: FileSystemImageStore) -> None:
        started.append("ensure_ready")
        real_ensure_ready(store)

    monkeypatch.setattr(FileSystemImageStore, "ensure_ready", counted)

    assert invoke(load_event("get_image"))["statusCode"] == 404
    assert invoke(load_event("manual_crop"))["statusCode"] == 200
    assert started == ["ensure_ready"]


def test_links_keep_the_stage_under_the_execute_api_url(lambda_settings: Settings) -> None:
    created = invoke(load_event("manual_crop"))
    retrieval_url = json_body(created)["retrieval_url"]
    assert retrieval_url.startswith("/v1/images/ABC-123/")
    assert invoke(following(load_event("get_image"), retrieval_url))["statusCode"] == 200

    docs = invoke(with_path(load_event("get_image"), "/docs"))
    assert docs["statusCode"] == 200
    assert "'/v1/openapi.json'" in _text(docs) or '"/v1/openapi.json"' in _text(docs)
    schema = json_body(invoke(with_path(load_event("get_image"), "/openapi.json")))
    assert schema["servers"] == [{"url": "/v1"}]


def test_smart_crop_links_keep_the_stage(lambda_settings: Settings, worker_invokes: list[RecordedInvoke]) -> None:
    response = invoke(load_event("smart_crop"))
    body = json_body(response)
    assert header(response, "location") == body["status_url"] == f"/v1/jobs/{body['image_id']}"
    assert body["retrieval_url"].startswith("/v1/images/ABC-123/")
    job = invoke(following(load_event("get_image"), body["status_url"]))
    assert job["statusCode"] == 200
    assert json_body(job)["retrieval_url"] == body["retrieval_url"]


def test_links_have_no_prefix_on_a_custom_domain(
    lambda_settings: Settings, worker_invokes: list[RecordedInvoke]
) -> None:
    created = json_body(invoke(on_custom_domain(load_event("manual_crop"))))
    assert created["retrieval_url"].startswith("/images/ABC-123/")
    fetched = invoke(following(on_custom_domain(load_event("get_image")), created["retrieval_url"]))
    assert fetched["statusCode"] == 200

    accepted = invoke(on_custom_domain(load_event("smart_crop")))
    assert header(accepted, "location") == f"/jobs/{json_body(accepted)['image_id']}"
    docs = invoke(on_custom_domain(with_path(load_event("get_image"), "/docs")))
    assert "'/openapi.json'" in _text(docs) or '"/openapi.json"' in _text(docs)


def _text(response: dict[str, Any]) -> str:
    body = response["body"]
    return (base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()).decode()
