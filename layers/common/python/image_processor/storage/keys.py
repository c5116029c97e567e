"""Where images live: the key layout and the path rules every backend shares.

Keys, identical on the file system and S3:
- results `<product_id>/<image_id>.jpg`, and their renditions `<product_id>/<image_id>/<preset>.<jpg|webp|avif>`
  (the only keys ever served);
- smart-crop staged originals `.staging/<image_id>.upload`;
- direct uploads `.uploads/<upload_id>`.
Product ids cannot start with a dot, so the dot folders never collide with results and are never served.
"""

import re

_SEGMENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*")
_SERVABLE_SUFFIXES = frozenset({".jpg", ".jpeg", ".webp", ".avif"})
STAGING_PREFIX = ".staging/"
UPLOADS_PREFIX = ".uploads/"
_STAGED_SUFFIX = ".upload"


def result_key(product_id: str, image_id: str) -> str:
    return checked_key(f"{product_id}/{image_id}.jpg")


def image_folder(product_id: str, image_id: str) -> str:
    """The folder beside an image that holds its renditions (`<product_id>/<image_id>/<preset>.<ext>`)."""
    return checked_key(f"{product_id}/{image_id}") + "/"


def rendition_path(product_id: str, image_id: str, preset: str) -> str:
    """Where an image's rendition is asked for with its format negotiated: the key without its extension."""
    return checked_key(f"{product_id}/{image_id}/{preset}")


def rendition_key(product_id: str, image_id: str, preset: str, fmt: str) -> str:
    return checked_key(f"{rendition_path(product_id, image_id, preset)}.{fmt}")


def staged_key(image_id: str) -> str:
    if not _SEGMENT_RE.fullmatch(image_id):
        raise ValueError(f"unsafe image id {image_id!r}")
    return f"{STAGING_PREFIX}{image_id}{_STAGED_SUFFIX}"


def staged_id(key: str) -> str | None:
    """The image id of a staged key, or None if `key` is not one."""
    name = key.removeprefix(STAGING_PREFIX)
    if name == key or not name.endswith(_STAGED_SUFFIX):
        return None
    image_id = name.removesuffix(_STAGED_SUFFIX)
    return image_id if _SEGMENT_RE.fullmatch(image_id) else None


UPLOAD_MARKERS = (".received", ".claim")


def upload_id_of(key: str) -> str | None:
    """The upload id of a key under `.uploads/` (the upload or one of its markers), or None."""
    name = key.removeprefix(UPLOADS_PREFIX)
    if name == key:
        return None
    for marker in UPLOAD_MARKERS:
        name = name.removesuffix(marker)
    return name if _SEGMENT_RE.fullmatch(name) and "." not in name else None


def upload_key(upload_id: str) -> str:
    if not _SEGMENT_RE.fullmatch(upload_id):
        raise ValueError(f"unsafe upload id {upload_id!r}")
    return f"{UPLOADS_PREFIX}{upload_id}"


def checked_key(relative_path: str) -> str:
    """`relative_path` if it is made of plain names only; ValueError otherwise."""
    if safe_segments(relative_path) is None:
        raise ValueError(f"unsafe storage path {relative_path!r}")
    return relative_path


def servable_key(requested_path: str) -> str | None:
    """The key a request for `requested_path` may read, or None: only plain names ending in .jpg/.jpeg
    (results and renditions) or .webp/.avif (renditions)."""
    segments = safe_segments(requested_path)
    if segments is None:
        return None
    suffix = segments[-1].rpartition(".")[2].lower()
    return "/".join(segments) if f".{suffix}" in _SERVABLE_SUFFIXES else None


def safe_segments(relative_path: str) -> list[str] | None:
    """Split on '/', accepting only plain names: no '..', no dot files, no backslash, NUL or percent."""
    segments = relative_path.split("/")
    if not segments or not all(_SEGMENT_RE.fullmatch(segment) for segment in segments):
        return None
    return segments
