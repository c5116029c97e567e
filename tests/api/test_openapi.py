"""The generated OpenAPI schema: readable operation ids and the response headers the service sends."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support import images


@pytest.fixture
def schema(client: TestClient) -> dict[str, Any]:
    document: dict[str, Any] = client.get("/openapi.json").json()
    return document


def test_operation_ids_are_the_handler_names(schema: dict[str, Any]) -> None:
    """Issue 12: generated clients read `create_manual_crop`, not `create_manual_crop_images_manual_crop_post`."""
    ids = {
        (method, path): operation["operationId"]
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    }
    assert ids == {
        ("post", "/images/manual-crop"): "create_manual_crop",
        ("post", "/images/smart-crop"): "create_smart_crop",
        ("get", "/images/{image_path}"): "read_image",
        ("head", "/images/{image_path}"): "read_image_headers",
        ("get", "/images/{product_id}/{image_id}/{rendition}"): "read_rendition",
        ("head", "/images/{product_id}/{image_id}/{rendition}"): "read_rendition_headers",
        ("get", "/jobs/{image_id}"): "read_job",
        ("get", "/products/{product_id}/images"): "list_product_images",
        ("delete", "/images/{product_id}/{image_id}"): "delete_image",
        ("get", "/images/{product_id}/{image_id}/checks"): "check_image",
        ("post", "/uploads"): "create_upload",
        ("post", "/uploads/{upload_id}"): "receive_upload",
        ("get", "/health"): "read_health",
        ("get", "/ready"): "read_readiness",
    }


def headers_of(schema: dict[str, Any], path: str, method: str, status: str) -> set[str]:
    return set(schema["paths"][path][method]["responses"][status].get("headers", {}))


@pytest.mark.parametrize(
    ("path", "method", "status", "expected"),
    [
        (
            "/images/smart-crop",
            "post",
            "202",
            {"Location", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"},
        ),
        (
            "/images/smart-crop",
            "post",
            "429",
            {"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"},
        ),
        ("/images/smart-crop", "post", "503", {"Retry-After"}),
        ("/images/manual-crop", "post", "503", {"Retry-After"}),
        ("/images/{image_path}", "get", "200", {"ETag"}),
        ("/images/{image_path}", "get", "304", {"ETag"}),
        ("/images/{image_path}", "head", "200", {"ETag"}),
    ],
)
def test_response_headers_are_declared(
    schema: dict[str, Any], path: str, method: str, status: str, expected: set[str]
) -> None:
    """Issue 12: the headers a client must read are in the schema, not only in the prose."""
    assert expected <= headers_of(schema, path, method, status)


def test_every_response_declares_the_request_id(schema: dict[str, Any]) -> None:
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status in operation["responses"]:
                assert "X-Request-ID" in headers_of(schema, path, method, status), (method, path, status)


def test_the_declared_headers_are_the_ones_sent(client: TestClient, schema: dict[str, Any]) -> None:
    """The schema and the service agree: the 202 of a smart crop carries every header declared for it."""
    response = client.post(
        "/images/smart-crop",
        files={"source_image": ("a.jpg", images.solid_jpeg(), "image/jpeg")},
        data={"product_info": '{"product_id": "ABC-123"}'},
    )
    assert response.status_code == 202, response.text
    declared = headers_of(schema, "/images/smart-crop", "post", "202")
    assert {name.lower() for name in declared} <= set(response.headers)
