"""Content-Security-Policy for the two HTML pages the service serves: the crop studio and /docs.

The studio runs only its own files: no inline script or style, no hashes. Its photos are blob: URLs,
and on S3 the direct upload and the result image come from the bucket, whose origin is allowed for
those two uses only. /docs is Swagger UI: FastAPI's page starts it with one inline script, allowed
by its hash, and Swagger UI sets inline styles, so its style-src allows them. Neither page may be
framed (`frame-ancestors 'none'`, and X-Frame-Options for older browsers, on every response).
"""

import base64
import hashlib
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from ..storage.keys import ImageStore
from ..storage.s3 import S3ImageStore

_COMMON = ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "form-action 'self'")
_INLINE_SCRIPT_RE = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def studio_policy(storage_origins: Iterable[str]) -> str:
    storage = " ".join(sorted(set(storage_origins)))
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' blob: data: {storage}".rstrip(),
            f"connect-src 'self' {storage}".rstrip(),
            *_COMMON,
        )
    )


def docs_policy(html: str) -> str:
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in _INLINE_SCRIPT_RE.findall(html)
    )
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' {hashes}".rstrip(),
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "connect-src 'self'",
            *_COMMON,
        )
    )


def storage_origins(store: ImageStore, public_image_base_url: str | None = None) -> list[str]:
    """The origins a browser reaches images and uploads at: S3's presigned URLs, and the CDN that
    PUBLIC_IMAGE_BASE_URL names; none for the file system without a CDN."""
    cdn = {_origin(public_image_base_url)} if public_image_base_url else set()
    if not isinstance(store, S3ImageStore):
        return sorted(cdn)
    # Signed locally: no call is made.
    image_url = store.presigned_url("probe.jpg", 60) or ""
    upload_url, _ = store.presigned_post("probe", max_bytes=1, content_types=("image/jpeg",), ttl_seconds=60)
    return sorted(({_origin(image_url), _origin(upload_url)} | cdn) - {""})


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
