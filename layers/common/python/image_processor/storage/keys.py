"""Where images live: the store Protocol, the key layout and the path rules every backend shares.

Keys, identical on the file system and S3:
- results `<product_id>/<image_id>.jpg`, and their renditions `<product_id>/<image_id>/<preset>.<jpg|webp|avif>`
  (the only keys ever served);
- smart-crop staged originals `.staging/<image_id>.upload`;
- direct uploads `.uploads/<upload_id>`.
Product ids cannot start with a dot, so the dot folders never collide with results and are never served.
"""

import re
from dataclasses import dataclass
from typing import Protocol

_SEGMENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*")
_SERVABLE_SUFFIXES = frozenset({".jpg", ".jpeg", ".webp", ".avif"})
STAGING_PREFIX = ".staging/"
UPLOADS_PREFIX = ".uploads/"
_STAGED_SUFFIX = ".upload"


class UploadTooLarge(Exception):
    """A direct upload over the size it was allowed; it has been deleted."""

    def __init__(self, size: int) -> None:
        super().__init__(f"{size} bytes")
        self.size = size


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    etag: str


@dataclass(frozen=True)
class StoredImage:
    object: StoredObject
    content: bytes


class ImageStore(Protocol):
    def ensure_ready(self) -> None: ...
    def remove_abandoned_writes(self) -> int: ...
    def save(self, key: str, data: bytes) -> None:
        """Publish `data` at `key` whole: a reader sees the previous object or this one, never a part."""

    def delete(self, key: str) -> None:
        """Remove a stored result (one whose job did not succeed); nothing if it is not there."""

    def delete_folder(self, prefix: str) -> int:
        """Remove every object under `prefix` (`<product_id>/<image_id>/`, an image's renditions); how many."""

    def check_ready(self) -> None:
        """Returns if the store answers with the permissions the service has; raises if not."""

    def stat(self, requested_path: str) -> StoredObject | None:
        """The servable image at `requested_path`, without its bytes; None for anything that is not one."""

    def fetch(self, requested_path: str) -> StoredImage | None: ...
    def create(self, key: str, data: bytes, *, content_type: str) -> StoredObject | None:
        """Publish `data` at `key` whole, only if nothing is there yet: the object as stored, or None when
        another writer's was first (it stays). For objects that never change once made (renditions)."""

    def presigned_url(self, key: str, ttl_seconds: int) -> str | None:
        """A short-lived URL a client can GET the object from directly, or None if this backend has none."""

    def stage(self, image_id: str, data: bytes) -> None: ...
    def read_staged(self, image_id: str) -> bytes | None: ...
    def discard_staged(self, image_id: str) -> None: ...
    def staged_ids(self) -> list[str]: ...
    def put_upload(self, upload_id: str, data: bytes) -> bool:
        """Keep a direct upload unless one was received under this id before (then False, nothing written)."""

    def take_upload(self, upload_id: str, max_bytes: int) -> bytes | None:
        """Read and delete a direct upload; of all calls for one id, ever, at most one gets the bytes
        (a marker left beside it says it was taken until `remove_upload`).

        UploadTooLarge (the upload deleted unread) if it is over `max_bytes`."""

    def upload_ids(self) -> list[str]:
        """The ids of every direct upload stored, or marked received or taken."""

    def remove_upload(self, upload_id: str) -> None:
        """The upload and its markers, gone."""


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
