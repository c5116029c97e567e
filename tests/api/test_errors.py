"""One JSON error shape for every 4xx and 5xx, documented in the OpenAPI schema."""

import asyncio
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from image_processor.api import create_app, forms
from image_processor.errors import MalformedRequest
from image_processor.images import ImageService
from image_processor.services import Services
from tests.conftest import CLIENT_IP
from tests.support import images
from tests.support.uploads import assert_error, manual_crop


def test_an_unknown_path_is_a_404_json(client: TestClient) -> None:
    assert_error(client.get("/no/such/thing"), 404, "not_found")


def test_a_wrong_method_is_a_405_json_with_allow(client: TestClient) -> None:
    response = client.delete("/images/manual-crop")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["allow"]


def test_a_rate_limited_error_carries_retry_after(client: TestClient, services: Services) -> None:
    for _ in range(services.settings.rate_limit_requests):
        services.rate_limiter.acquire(CLIENT_IP)
    response = client.post("/images/smart-crop", files={"source_image": ("a.jpg", b"x", "image/jpeg")})
    assert_error(response, 429, "rate_limited")
    assert int(response.headers["retry-after"]) > 0


def test_an_unexpected_error_is_a_json_500_without_a_stack_trace(
    services: Services, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode(self: ImageService, *args: Any) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(ImageService, "crop_and_store", explode)
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        response = manual_crop(client, images.solid_jpeg())
    assert_error(response, 500, "internal_error")
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
    logged = [record for record in caplog.records if record.getMessage() == "unhandled error"]
    assert len(logged) == 1
    assert logged[0].exc_info is not None


def test_every_error_response_in_the_schema_uses_the_error_body(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert schema["components"]["schemas"]["ErrorBody"]["required"] == ["error"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            errors = {status: spec for status, spec in operation["responses"].items() if status >= "400"}
            assert errors, f"{method} {path} documents no errors"
            for status, spec in errors.items():
                ref = spec["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/ErrorBody", (method, path, status)


@pytest.mark.parametrize(
    ("path", "statuses"),
    [
        ("/images/manual-crop", {"413", "415", "422"}),
        ("/images/smart-crop", {"413", "415", "422", "429", "503"}),
        ("/images/{image_path}", {"404"}),
    ],
)
def test_the_schema_documents_each_endpoints_errors(client: TestClient, path: str, statuses: set[str]) -> None:
    operations = client.get("/openapi.json").json()["paths"][path]
    for operation in operations.values():
        assert statuses <= set(operation["responses"])


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/images/ABC-123/0123456789abcdef0123456789abcdef.jpg", "GET, HEAD"),
        ("POST", "/images/ABC-123/0123456789abcdef0123456789abcdef.jpg", "GET, HEAD"),
        ("GET", "/images/manual-crop", "POST"),
        ("GET", "/images/smart-crop", "POST"),
        ("HEAD", "/images/smart-crop", "POST"),
        ("PUT", "/health", "GET"),
    ],
)
def test_a_405_allows_every_method_the_path_answers(client: TestClient, method: str, path: str, allow: str) -> None:
    """Issue 12: DELETE on an image listed only HEAD, and GET /images/manual-crop was a 404."""
    response = client.request(method, path)
    assert response.status_code == 405
    if method != "HEAD":
        assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == allow


def test_an_image_under_a_product_named_like_an_endpoint_is_still_served(client: TestClient) -> None:
    body = manual_crop(client, images.solid_jpeg(), product_id="manual-crop").json()
    assert body["retrieval_url"].startswith("/images/manual-crop/")
    assert client.get(body["retrieval_url"]).status_code == 200


def test_a_500_carries_the_request_id_and_the_safety_headers(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Starlette answers an unhandled error outside the middleware, so the handler adds these itself."""

    async def explode(self: ImageService, *args: Any) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(ImageService, "crop_and_store", explode)
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        response = manual_crop(client, images.solid_jpeg())
    assert_error(response, 500, "internal_error")
    assert len(response.headers["x-request-id"]) == 32
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


def test_a_malformed_multipart_body_is_the_services_own_error_with_the_one_shape(client: TestClient) -> None:
    """Issue 20: it left as Starlette's HTTPException; now it is a domain error the one table maps to 400."""
    body = b'--x\r\nContent-Disposition: form-data; name="product_info"\r\n\r\n' + b"v" * 70_000 + b"\r\n--x--\r\n"

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    request = Request(
        {"type": "http", "method": "POST", "headers": [(b"content-type", b"multipart/form-data; boundary=x")]},
        receive,
    )
    with pytest.raises(MalformedRequest):
        asyncio.run(forms.parse_form(request, max_fields=3))
    response = client.post(
        "/images/manual-crop", content=body, headers={"Content-Type": "multipart/form-data; boundary=x"}
    )
    assert_error(response, 400, "bad_request")
