"""Request-body schemas for the multipart endpoints, which read their form by hand (see forms.py).

`product_info` and `crop_box` are JSON texts inside the form; the schema describes the JSON they
must hold (OpenAPI's `encoding.contentType: application/json`), so generated clients and fuzzers
send well-formed parts and /docs shows the fields the service checks.
"""

from typing import Any

from ...models import CropBox, ProductInfo
from ...presets import PRESET_NAME_PATTERN

_SOURCE_IMAGE = {
    "type": "string",
    "format": "binary",
    "description": "JPEG, PNG, WebP, GIF, TIFF, BMP, HEIC or AVIF; or leave it out and send source_upload_id",
}
_SOURCE_UPLOAD_ID = {
    "type": "string",
    "description": "Instead of source_image: the upload_id of a direct upload (POST /uploads); used once",
}


def _json_part(model: type[ProductInfo] | type[CropBox], description: str, example: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    return {**schema, "description": description, "example": example}


_PRODUCT_INFO = _json_part(
    ProductInfo,
    "JSON object with a product_id (letters, digits, '-' and '_', at most 64)",
    {"product_id": "ABC-123"},
)
_CROP_BOX = _json_part(
    CropBox,
    "JSON object of integers x, y >= 0 and width, height > 0, inside the image as displayed",
    {"x": 10, "y": 10, "width": 200, "height": 200},
)
_RENDITIONS = {
    "type": "array",
    "items": {"type": "string", "pattern": f"^{PRESET_NAME_PATTERN}$"},
    "description": "Optional JSON list of preset names whose renditions are made before the image is reported "
    "ready (the built-in presets are thumbnail, listing and zoom); an unknown name is a 422",
    "example": ["thumbnail", "listing"],
}
_JSON = {"contentType": "application/json"}
_OPTIONAL = frozenset({"source_upload_id", "renditions"})


def multipart_body(*, with_crop_box: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "source_image": _SOURCE_IMAGE,
        "source_upload_id": _SOURCE_UPLOAD_ID,
        "product_info": _PRODUCT_INFO,
    }
    encoding: dict[str, Any] = {"product_info": _JSON}
    properties["profile"] = {
        "type": "string",
        "description": "A check profile (`marketplace`): the result is checked against its rules, in the answer "
        "(manual crop) or the job (smart crop)",
    }
    optional = set(_OPTIONAL) | {"profile"}
    if with_crop_box:
        properties["crop_box"] = _CROP_BOX
        encoding["crop_box"] = _JSON
    else:
        properties["callback_url"] = {
            "type": "string",
            "format": "uri",
            "description": "POSTed the job's JSON when it ends, signed per Standard Webhooks; must start with one "
            "of WEBHOOK_URL_PREFIXES (422 when webhooks are off)",
        }
        optional.add("callback_url")
    properties["renditions"] = _RENDITIONS
    encoding["renditions"] = _JSON
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": [name for name in properties if name not in optional],
                        "properties": properties,
                    },
                    "encoding": encoding,
                }
            },
        }
    }
