"""Every URL the API hands out, built in this one place.

Links are root-relative and start with the ASGI `root_path`: empty locally and on a custom domain,
`/v1` behind an API Gateway stage (see middleware/stage_prefix.py), so a client can follow them as given.
Image links are the exception when PUBLIC_IMAGE_BASE_URL names a CDN: they are absolute URLs there,
so that views never reach the service once the CDN holds the image.
"""

from collections.abc import Iterable

from starlette.requests import Request

from ..storage.keys import rendition_path
from .deps import get_services


def public_image_url(request: Request, path: str) -> str:
    """Where clients fetch `/images/<path>` (a result `<product_id>/<image_id>.jpg`, or a rendition
    `<product_id>/<image_id>/<preset>[.<ext>]`): the CDN when one is configured, else the service."""
    base = get_services(request).settings.public_image_base_url
    return f"{base if base is not None else _root(request)}/images/{path}"


def image_url(request: Request, key: str) -> str:
    return public_image_url(request, key)


def rendition_urls(request: Request, product_id: str, image_id: str, presets: Iterable[str]) -> dict[str, str]:
    """Each preset's rendition of the image at its negotiated URL (no extension; the format follows Accept)."""
    return {name: image_url(request, rendition_path(product_id, image_id, name)) for name in presets}


def job_url(request: Request, image_id: str) -> str:
    return f"{_root(request)}/jobs/{image_id}"


def upload_form_url(request: Request, upload_id: str) -> str:
    """Absolute, like S3's presigned POST URL, so a client posts to `url` the same way on both backends."""
    return f"{str(request.base_url).rstrip('/')}/uploads/{upload_id}"


def _root(request: Request) -> str:
    root_path: str = request.scope.get("root_path", "")
    return root_path.rstrip("/")
