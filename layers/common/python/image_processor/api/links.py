"""Every URL the API hands out, built in this one place.

Links are root-relative and start with the ASGI `root_path`: empty locally and on a custom domain,
`/v1` behind an API Gateway stage (see middleware/stage_prefix.py), so a client can follow them as given.
"""

from urllib.parse import urlencode

from starlette.requests import Request

from ..admission.client_ip import is_trusted_proxy
from ..settings import Settings


def image_url(request: Request, key: str) -> str:
    return f"{_root(request)}/images/{key}"


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
