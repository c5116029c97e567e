"""Multipart requests for the crop endpoints, as the UI sends them."""

import json
from typing import Any

import httpx
from fastapi.testclient import TestClient

BOX = {"x": 0, "y": 0, "width": 100, "height": 100}


def manual_crop(
    client: TestClient | httpx.Client,
    source: bytes,
    *,
    product_id: str = "ABC-123",
    box: dict[str, Any] | None = None,
    filename: str = "photo.jpg",
    content_type: str = "image/jpeg",
) -> httpx.Response:
    return client.post(
        "/images/manual-crop",
        files={"source_image": (filename, source, content_type)},
        data={"product_info": json.dumps({"product_id": product_id}), "crop_box": json.dumps(box or BOX)},
    )


def accepted_smart_crop(client: TestClient, source: bytes, *, product_id: str = "ABC-123") -> dict[str, str]:
    """POST a smart crop and return its 202 body (failing the test on any other answer)."""
    response = client.post(
        "/images/smart-crop",
        files={"source_image": ("photo.jpg", source, "image/jpeg")},
        data={"product_info": json.dumps({"product_id": product_id})},
    )
    assert response.status_code == 202, response.text
    body: dict[str, str] = response.json()
    return body


def assert_error(response: httpx.Response, status: int, code: str | None = None, field: str | None = None) -> None:
    """The response is the service's one error shape with the given status (and code and field)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    if field is not None:
        assert error.get("field") == field, error
