"""What callers need from storage, one small interface per concern. Each backend (filesystem.py, s3.py)
implements them all; assembly picks one backend and hands each caller only the part it uses.

- ResultStore: the finished images and their renditions, the only objects ever served;
- StagingArea: smart-crop originals waiting for their worker;
- UploadInbox: direct uploads waiting to be named in a crop request;
- DirectLinks: short-lived URLs a client reads an object from without the service (S3 only).
"""

from dataclasses import dataclass
from typing import Protocol


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


class ResultStore(Protocol):
    def save(self, key: str, data: bytes) -> None:
        """Publish `data` at `key` whole: a reader sees the previous object or this one, never a part."""

    def create(self, key: str, data: bytes, *, content_type: str) -> StoredObject | None:
        """Publish `data` at `key` whole, only if nothing is there yet: the object as stored, or None when
        another writer's was first (it stays). For objects that never change once made (renditions)."""

    def delete(self, key: str) -> None:
        """Remove a stored result or rendition; nothing if it is not there."""

    def delete_folder(self, prefix: str) -> int:
        """Remove every object under `prefix` (`<product_id>/<image_id>/`, an image's renditions); how many."""

    def stat(self, requested_path: str) -> StoredObject | None:
        """The servable image at `requested_path`, without its bytes; None for anything that is not one."""

    def fetch(self, requested_path: str) -> StoredImage | None:
        """The servable image at `requested_path` with its bytes; None for anything that is not one."""


class StagingArea(Protocol):
    def stage(self, image_id: str, data: bytes) -> None: ...
    def read_staged(self, image_id: str) -> bytes | None: ...
    def discard_staged(self, image_id: str) -> None: ...
    def staged_ids(self) -> list[str]: ...


class UploadInbox(Protocol):
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


class DirectLinks(Protocol):
    def presigned_url(self, key: str, ttl_seconds: int) -> str:
        """A short-lived URL a client can GET the object at `key` from directly (signed locally, no call)."""
