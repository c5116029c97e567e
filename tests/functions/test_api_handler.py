"""functions/api driven by recorded API Gateway REST proxy events, as Lambda would call it."""

import base64
import io
import json
from typing import Any

from PIL import Image

from functions.api.app import handler
from image_processor.settings import Settings
from tests.functions.conftest import (
    RecordedInvoke,
    lambda_context,
    load_event,
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
    assert body["retrieval_url"].startswith("/images/ABC-123/")
    assert (lambda_settings.processed_images_dir / body["retrieval_url"].removeprefix("/images/")).is_file()


def test_retrieval_returns_the_jpeg_base64_encoded(lambda_settings: Settings) -> None:
    created = json_body(invoke(load_event("manual_crop")))

    response = invoke(with_path(load_event("get_image"), created["retrieval_url"]))

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


def test_the_request_id_is_api_gateways_not_the_clients(lambda_settings: Settings) -> None:
    """Issue 14: on Lambda the id is API Gateway's requestId, the one in its own logs; a client's is not adopted."""
    event = load_event("get_image")
    event["headers"]["X-Request-ID"] = "chosen-by-the-client"
    event["multiValueHeaders"]["X-Request-ID"] = ["chosen-by-the-client"]

    response = invoke(event)

    assert header(response, "x-request-id") == event["requestContext"]["requestId"]
