"""Request-body schemas for the multipart endpoints, which read their form by hand (see forms.py)."""

from typing import Any

_SOURCE_IMAGE = {"type": "string", "format": "binary", "description": "JPEG, PNG, WebP, GIF, TIFF or BMP"}
_PRODUCT_INFO = {
    "type": "string",
    "description": 'JSON object with a product_id, e.g. {"product_id": "ABC-123"}',
    "example": '{"product_id": "ABC-123"}',
}
_CROP_BOX = {
    "type": "string",
    "description": "JSON object of integers x, y >= 0 and width, height > 0, inside the displayed image",
    "example": '{"x": 10, "y": 10, "width": 200, "height": 200}',
}


def multipart_body(*, with_crop_box: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {"source_image": _SOURCE_IMAGE, "product_info": _PRODUCT_INFO}
    if with_crop_box:
        properties["crop_box"] = _CROP_BOX
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "required": list(properties), "properties": properties}
                }
            },
        }
    }
