"""Synchronous crops and reads, run in worker threads with a bound on how many run at once."""

import functools
from dataclasses import dataclass

import anyio

from . import imaging
from .ids import new_image_id
from .models import CropBox
from .storage import ImageStore, StoredImage, StoredObject, result_key


@dataclass(frozen=True)
class CroppedImage:
    image_id: str
    key: str


class ImageService:
    def __init__(self, store: ImageStore, *, max_pixels: int, jpeg_quality: int, concurrency: int) -> None:
        self._store = store
        self._max_pixels = max_pixels
        self._quality = jpeg_quality
        self._limiter = anyio.CapacityLimiter(concurrency)

    async def crop_and_store(self, source: bytes, product_id: str, box: CropBox) -> CroppedImage:
        image_id = new_image_id()
        key = result_key(product_id, image_id)
        await anyio.to_thread.run_sync(self._crop_and_store, source, box, key, limiter=self._limiter)
        return CroppedImage(image_id=image_id, key=key)

    async def read(self, requested_path: str) -> StoredImage | None:
        return await anyio.to_thread.run_sync(self._store.fetch, requested_path)

    async def stat(self, requested_path: str) -> StoredObject | None:
        return await anyio.to_thread.run_sync(self._store.stat, requested_path)

    async def presigned_url(self, key: str, ttl_seconds: int) -> str:
        url = self._store.presigned_url(key, ttl_seconds)  # signed locally, no network call
        if url is None:
            raise RuntimeError("this image store has no presigned URLs; Settings refuses IMAGE_DELIVERY=redirect")
        return url

    async def probe(self, source: bytes) -> imaging.ImageInfo:
        # Only the header is read (no pixels), so accepting an upload never waits for a crop slot.
        probe = functools.partial(imaging.probe, max_pixels=self._max_pixels)
        return await anyio.to_thread.run_sync(probe, source)

    def _crop_and_store(self, source: bytes, box: CropBox, key: str) -> None:
        jpeg = imaging.crop_to_jpeg(source, box, max_pixels=self._max_pixels, quality=self._quality)
        self._store.save(key, jpeg)
