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
from collections.abc import Iterable, Sequence

from ..urls import origin_of

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


def image_origins(storage_origins: Sequence[str], public_image_base_url: str | None = None) -> list[str]:
    """The origins a browser reaches images and uploads at: storage's own (S3's presigned URLs), and the
    CDN that PUBLIC_IMAGE_BASE_URL names; none for the file system without a CDN."""
    cdn = {origin_of(public_image_base_url)} if public_image_base_url else set()
    return sorted((set(storage_origins) | cdn) - {""})
