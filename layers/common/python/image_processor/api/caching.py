"""Cache headers of stored images: their bytes never change, so caches may keep them for good."""

IMMUTABLE = "public, max-age=31536000, immutable"


def etag_matches(etag: str, if_none_match: str | None) -> bool:
    """Weak comparison, as RFC 9110 asks for If-None-Match; `*` matches any existing image."""
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in tags or "*" in tags
