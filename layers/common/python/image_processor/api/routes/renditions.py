"""GET and HEAD /images/{product_id}/{image_id}/{preset}[.jpg|.webp|.avif]: an image's renditions.

Registered before the image route, whose path pattern would also match three segments.
"""

import re
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response, status

from ...errors import NotFound
from ...models import is_safe_product_id
from ...presets import MEDIA_TYPES, RenditionFormat
from ...storage.interfaces import StoredImage, StoredObject
from ..caching import IMMUTABLE, etag_matches
from ..deps import ServicesDep
from ..errors import error_responses
from ..negotiation import negotiate
from ..openapi import ETAG, LOCATION

router = APIRouter(prefix="/images", tags=["images"])

_IMAGE_ID_RE = re.compile(r"[0-9a-f]{32}")
_VARY = {"Vary": "Accept"}
_IMAGE = {"schema": {"type": "string", "format": "binary"}}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The rendition (made and stored first if this is its first request)",
        "content": {media_type: _IMAGE for media_type in MEDIA_TYPES.values()},
        "headers": {**ETAG, "Vary": {"description": "`Accept`, when the format was negotiated"}},
    },
    304: {"description": "Not modified (If-None-Match)", "headers": ETAG},
    307: {
        "description": "IMAGE_DELIVERY=redirect: a short-lived presigned URL of the rendition in `Location`",
        "headers": LOCATION,
    },
    **error_responses(404),
}


@dataclass(frozen=True)
class _Wanted:
    preset: str
    fmt: RenditionFormat
    negotiated: bool


@router.get("/{product_id}/{image_id}/{rendition}", response_class=Response, responses=_RESPONSES)
@router.head(
    "/{product_id}/{image_id}/{rendition}",
    response_class=Response,
    responses=_RESPONSES,
    name="read_rendition_headers",
)
async def read_rendition(
    product_id: str, image_id: str, rendition: str, request: Request, services: ServicesDep
) -> Response:
    """A preset's rendition of the image: `{preset}.jpg|.webp|.avif`, or `{preset}` for the best format `Accept`
    allows (AVIF, then WebP, then JPEG). With IMAGE_DELIVERY=redirect a GET is a 307 to storage."""
    wanted = _wanted(product_id, image_id, rendition, request, services)
    inline = request.method == "GET" and services.settings.image_delivery == "inline"
    found = await services.renditions.read(product_id, image_id, wanted.preset, wanted.fmt, with_content=inline)
    stored = found.object if isinstance(found, StoredImage) else found
    headers = {"ETag": stored.etag, "Cache-Control": IMMUTABLE, **(_VARY if wanted.negotiated else {})}
    if etag_matches(stored.etag, request.headers.get("if-none-match")):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    if request.method == "GET" and not inline:
        return await _redirect(stored, wanted, services)
    headers["Content-Length"] = str(stored.size)
    content = found.content if isinstance(found, StoredImage) and request.method == "GET" else b""
    return Response(content=content, media_type=MEDIA_TYPES[wanted.fmt], headers=headers)


def _wanted(product_id: str, image_id: str, rendition: str, request: Request, services: ServicesDep) -> _Wanted:
    """The preset and format asked for; a JSON 404 for an unknown image id, preset or format."""
    name, dot, extension = rendition.partition(".")
    preset = services.renditions.catalogue.get(name)
    if preset is None or not is_safe_product_id(product_id) or not _IMAGE_ID_RE.fullmatch(image_id):
        raise NotFound("No rendition exists at this path.")
    offered = services.renditions.formats_of(preset)
    if not dot:
        return _Wanted(name, negotiate(request.headers.get("accept"), offered), negotiated=True)
    fmt = next((fmt for fmt in offered if fmt == extension), None)
    if fmt is None:
        formats = ", ".join(offered)
        raise NotFound(f"The {name} rendition is served as {formats} (or with no extension, as Accept allows).")
    return _Wanted(name, fmt, negotiated=False)


async def _redirect(stored: StoredObject, wanted: _Wanted, services: ServicesDep) -> Response:
    url = await services.renditions.presigned_url(stored.key, services.settings.presigned_url_ttl_seconds)
    # The URL expires: the redirect itself must not be cached longer than it is valid.
    headers = {"Location": url, "Cache-Control": "no-store", **(_VARY if wanted.negotiated else {})}
    return Response(status_code=status.HTTP_307_TEMPORARY_REDIRECT, headers=headers)
