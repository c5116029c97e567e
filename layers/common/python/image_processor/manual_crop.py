"""Synchronous crops and reads, run in worker threads with a bound on how many run at once."""

import functools
from dataclasses import dataclass

import anyio

from . import imaging
from .errors import ImageTooLarge
from .ids import new_image_id
from .models import CropBox, ImageCreated
from .storage import ImageStore, StoredFile


@dataclass(frozen=True)
class StoredImage:
    file: StoredFile
    content: bytes


class ImageService:
    def __init__(
        self,
        store: ImageStore,
        *,
        max_pixels: int,
        jpeg_quality: int,
        concurrency: int,
        budget: imaging.MemoryBudget,
    ) -> None:
        self._store = store
        self._max_pixels = max_pixels
        self._quality = jpeg_quality
        # Threads that crop at once (CPU); the budget bounds the memory their decodes hold.
        self._limiter = anyio.CapacityLimiter(concurrency)
        # Header probes run on their own limiter, so a burst of smart-crop uploads cannot fill the thread pool.
        self._probe_limiter = anyio.CapacityLimiter(concurrency)
        self._budget = budget

    async def crop_and_store(self, source: bytes, product_id: str, box: CropBox) -> ImageCreated:
        image_id = new_image_id()
        relative_path = f"{product_id}/{image_id}.jpg"
        await anyio.to_thread.run_sync(self._crop_and_store, source, box, relative_path, limiter=self._limiter)
        return ImageCreated(image_id=image_id, retrieval_url=f"/images/{relative_path}")

    async def read(self, requested_path: str, *, with_content: bool = True) -> StoredImage | None:
        return await anyio.to_thread.run_sync(self._read, requested_path, with_content)

    async def probe(self, source: bytes) -> imaging.ImageInfo:
        # Only the header is read (no pixels), so accepting an upload never waits for a crop slot.
        probe = functools.partial(imaging.probe, max_pixels=self._max_pixels)
        info = await anyio.to_thread.run_sync(probe, source, limiter=self._probe_limiter)
        if imaging.decode_cost(info) > self._budget.total:
            raise ImageTooLarge(
                "source_image would need more memory to decode than the service allows", field="source_image"
            )
        return info

    def _crop_and_store(self, source: bytes, box: CropBox, relative_path: str) -> None:
        jpeg = imaging.crop_to_jpeg(
            source, box, max_pixels=self._max_pixels, quality=self._quality, budget=self._budget
        )
        self._store.save(relative_path, jpeg)

    def _read(self, requested_path: str, with_content: bool) -> StoredImage | None:
        stored = self._store.open(requested_path)
        if stored is None:
            return None
        try:
            content = stored.path.read_bytes() if with_content else b""
        except OSError:
            return None
        return StoredImage(file=stored, content=content)
