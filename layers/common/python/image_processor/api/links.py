"""Every URL the API hands out, built in this one place.

Links are root-relative and start with the ASGI `root_path`: empty locally and on a custom domain,
`/v1` behind an API Gateway stage (see middleware/stage_prefix.py), so a client can follow them as given.
Image links are the exception when PUBLIC_IMAGE_BASE_URL names a CDN: they are absolute URLs there,
so that views never reach the service once the CDN holds the image.
"""

from collections.abc import Iterable
from urllib.parse import urlencode

from starlette.requests import Request

from ..admission.client_ip import is_trusted_proxy
from ..settings import Settings
from ..storage.keys import rendition_path
from .deps import get_services


def image_url(request: Request, path: str) -> str:
    """Where clients fetch `/images/<path>` (a result `<product_id>/<image_id>.jpg`, or a rendition
    `<product_id>/<image_id>/<preset>[.<ext>]`): the CDN when one is configured, else the service."""
    base = get_services(request).settings.public_image_base_url
    return f"{base if base is not None else _root(request)}/images/{path}"


def rendition_urls(request: Request, product_id: str, image_id: str, presets: Iterable[str]) -> dict[str, str]:
    """Each preset's rendition of the image at its negotiated URL (no extension; the format follows Accept)."""
    return {name: image_url(request, rendition_path(product_id, image_id, name)) for name in presets}


def job_url(request: Request, image_id: str) -> str:
    return f"{_root(request)}/jobs/{image_id}"


def upload_form_url(request: Request, settings: Settings, upload_id: str, query: dict[str, str]) -> str:
    """Absolute, like S3's presigned POST URL, so a client posts to `url` the same way on both backends."""
    return f"{public_origin(request, settings)}{_root(request)}/uploads/{upload_id}?{urlencode(query)}"


def public_origin(request: Request, settings: Settings) -> str:
    """PUBLIC_BASE_URL's origin; unset, the Host the request was sent to (checked against ALLOWED_HOSTS),
    with the scheme a trusted proxy says it was reached by (X-Forwarded-Proto)."""
    if settings.public_base_url is not None:
        return settings.public_base_url
    scheme = request.url.scheme
    forwarded_proto = request.headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
    peer = request.client.host if request.client else None
    if forwarded_proto in {"http", "https"} and is_trusted_proxy(peer, settings.trusted_proxies):
        scheme = forwarded_proto
    return f"{scheme}://{request.url.netloc}"


def _root(request: Request) -> str:
    root_path: str = request.scope.get("root_path", "")
    return root_path.rstrip("/")
