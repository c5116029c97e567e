"""functions/api driven by recorded API Gateway REST proxy events, as Lambda would call it."""

import base64
import copy
import io
import json
from typing import Any

import pytest
from PIL import Image

from functions.api import app as api_app
from functions.api.app import handler
from image_processor.settings import Settings, get_settings
from image_processor.storage.filesystem import FileSystemImageStore
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


def reconfigure(monkeypatch: pytest.MonkeyPatch, **environment: str) -> Settings:
    """Another environment for the function, as a new deployment would give it (a cold start)."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    api_app._asgi_handler.cache_clear()
    return get_settings()


def with_headers(event: dict[str, Any], **headers: list[str]) -> dict[str, Any]:
    event = copy.deepcopy(event)
    for name, values in headers.items():
        name = name.replace("_", "-")
        event["headers"][name] = values[-1]
        event["multiValueHeaders"][name] = values
    return event


def test_forwarded_for_lines_cannot_replace_the_source_ip_even_with_trusted_proxies(
    lambda_settings: Settings, worker_invokes: list[RecordedInvoke], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14: every X-Forwarded-For line is read; API Gateway's sourceIp, not a trusted proxy, stays the client."""
    assert reconfigure(monkeypatch, TRUSTED_PROXIES="10.0.0.0/8").trusted_proxies
    event = with_source_ip(load_event("smart_crop"), "198.51.100.23")
    statuses = []
    for attempt in range(lambda_settings.rate_limit_requests + 1):
        forged = with_headers(event, X_Forwarded_For=[f"203.0.113.{attempt}", "10.0.0.1", f"203.0.113.{attempt}:443"])
        statuses.append(invoke(forged)["statusCode"])
    assert statuses == [202] * lambda_settings.rate_limit_requests + [429]


def test_the_api_gateway_page_may_post_and_a_foreign_page_may_not(
    lambda_settings: Settings, worker_invokes: list[RecordedInvoke]
) -> None:
    event = load_event("manual_crop")
    own = with_headers(event, Origin=["https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"])
    foreign = with_headers(event, Origin=["https://evil.example"])

    assert invoke(own)["statusCode"] == 200
    refused = invoke(foreign)
    assert refused["statusCode"] == 403
    assert json_body(refused)["error"]["code"] == "origin_not_allowed"


def test_manual_crop_is_limited_per_api_gateway_key(
    lambda_settings: Settings, worker_invokes: list[RecordedInvoke], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind a usage plan API Gateway checks the key; the function counts by its id, not by address."""
    reconfigure(monkeypatch, MANUAL_CROP_RATE_LIMIT_REQUESTS="1")
    event = load_event("manual_crop")

    def with_key_id(key_id: str) -> dict[str, Any]:
        keyed = copy.deepcopy(event)
        keyed["requestContext"]["identity"]["apiKeyId"] = key_id
        return keyed

    assert invoke(with_key_id("a1b2c3"))["statusCode"] == 200
    assert invoke(with_key_id("a1b2c3"))["statusCode"] == 429
    assert invoke(with_key_id("d4e5f6"))["statusCode"] == 200  # same address, another key


def test_a_retried_smart_crop_event_with_an_idempotency_key_queues_one_job(
    lambda_settings: Settings, worker_invokes: list[RecordedInvoke]
) -> None:
    event = with_headers(load_event("smart_crop"), Idempotency_Key=["3f0c2b1e-retry"])

    first, retry = invoke(event), invoke(event)

    assert first["statusCode"] == retry["statusCode"] == 202
    assert json_body(retry) == json_body(first)
    assert header(retry, "idempotent-replayed") == "true"
    assert header(retry, "location") == header(first, "location")
    assert len(worker_invokes) == 1


def test_the_request_id_is_api_gateways_not_the_clients(lambda_settings: Settings) -> None:
    """Issue 14: on Lambda the id is API Gateway's requestId, the one in its own logs; a client's is not adopted."""
    event = load_event("get_image")
    event["headers"]["X-Request-ID"] = "chosen-by-the-client"
    event["multiValueHeaders"]["X-Request-ID"] = ["chosen-by-the-client"]

    response = invoke(event)

    assert header(response, "x-request-id") == event["requestContext"]["requestId"]


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


def test_links_keep_the_base_path_of_a_custom_domain_mapping(
    lambda_settings: Settings, worker_invokes: list[RecordedInvoke]
) -> None:
    """Issue 19: behind a custom domain with a base path, every route answered 404 (an empty prefix)."""
    created = invoke(on_custom_domain(load_event("manual_crop"), base_path="shop"))
    assert created["statusCode"] == 200, created
    retrieval_url = json_body(created)["retrieval_url"]
    assert retrieval_url.startswith("/shop/images/ABC-123/")
    route = retrieval_url.removeprefix("/shop")
    fetched = invoke(on_custom_domain(with_path(load_event("get_image"), route), base_path="shop"))
    assert fetched["statusCode"] == 200

    accepted = invoke(on_custom_domain(load_event("smart_crop"), base_path="shop"))
    assert header(accepted, "location") == f"/shop/jobs/{json_body(accepted)['image_id']}"
    docs = invoke(on_custom_domain(with_path(load_event("get_image"), "/docs"), base_path="shop"))
    assert docs["statusCode"] == 200
    assert "'/shop/openapi.json'" in _text(docs) or '"/shop/openapi.json"' in _text(docs)


def _text(response: dict[str, Any]) -> str:
    body = response["body"]
    return (base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()).decode()


def test_a_product_is_listed_checked_and_deleted_through_api_gateway_events(lambda_settings: Settings) -> None:
    """DELETE needs a key: with no API_KEYS, the one API Gateway checked (enable_api_keys) is accepted."""
    created = json_body(invoke(load_event("manual_crop")))
    image_id = created["image_id"]
    listing = invoke(with_path(load_event("get_image"), "/products/ABC-123/images"))
    checks = invoke(with_path(load_event("get_image"), f"/images/ABC-123/{image_id}/checks"))
    delete = with_path(load_event("get_image", httpMethod="DELETE"), f"/images/ABC-123/{image_id}")
    refused = invoke(delete)
    keyed = copy.deepcopy(delete)
    keyed["requestContext"]["identity"]["apiKeyId"] = "a1b2c3"

    deleted, again = invoke(keyed), invoke(keyed)

    assert listing["statusCode"] == 200
    assert [entry["image_id"] for entry in json_body(listing)["images"]] == [image_id]
    assert json_body(listing)["images"][0]["retrieval_url"] == created["retrieval_url"]
    assert checks["statusCode"] == 200 and json_body(checks)["profile"] == "marketplace"
    assert refused["statusCode"] == 403 and json_body(refused)["error"]["code"] == "forbidden"
    assert (deleted["statusCode"], again["statusCode"]) == (204, 404)
    gone = invoke(with_path(load_event("get_image"), "/products/ABC-123/images"))
    assert json_body(gone)["images"] == []
