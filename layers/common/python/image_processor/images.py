"""Synchronous crops and reads, run in worker threads with a bound on how many run at once."""

import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio
from aws_lambda_powertools import Logger

from . import imaging
from .catalog.records import CatalogEntry, DynamoDBCatalog
from .errors import DependencyUnavailable, ImageTooLarge
from .ids import new_image_id
from .models import CropBox
from .observability import SERVICE_NAME, annotate_trace
from .storage.interfaces import DirectLinks, ResultStore, StoredImage, StoredObject
from .storage.keys import result_key
from .storage.spool import ImageSource, read_source

logger = Logger(service=SERVICE_NAME, child=True)


@dataclass(frozen=True)
class CroppedImage:
    image_id: str
    key: str


class ImageService:
    def __init__(
        self,
        results: ResultStore,
        *,
        direct_links: DirectLinks | None = None,
        max_pixels: int,
        jpeg_quality: int,
        concurrency: int,
        budget: imaging.MemoryBudget,
        catalog: DynamoDBCatalog | None = None,
    ) -> None:
        self._results = results
        self._direct_links = direct_links
        self._catalog = catalog
        self._max_pixels = max_pixels
        self._quality = jpeg_quality
        # Threads that crop at once (CPU); the budget bounds the memory their decodes hold.
        self._limiter = anyio.CapacityLimiter(concurrency)
        # Header probes run on their own limiter, so a burst of smart-crop uploads cannot fill the thread pool.
        self._probe_limiter = anyio.CapacityLimiter(concurrency)
        self._budget = budget

    async def crop_and_store(self, source: ImageSource, product_id: str, box: CropBox) -> CroppedImage:
        image_id = new_image_id()
        key = result_key(product_id, image_id)
        annotate_trace(image_id=image_id)
        size = await anyio.to_thread.run_sync(self._crop_and_store, source, box, key, limiter=self._limiter)
        if self._catalog is not None:
            entry = CatalogEntry(
                product_id=product_id,
                image_id=image_id,
                created_at=time.time(),
                source="manual",
                size_bytes=size,
                width=box.width,
                height=box.height,
            )
            await anyio.to_thread.run_sync(self._catalogue, entry)
        return CroppedImage(image_id=image_id, key=key)

    def _catalogue(self, entry: CatalogEntry) -> None:
        """A manual crop keeps working while DynamoDB is out (docs/design.md): its image is stored and
        served; only its catalog entry is missing, which the log says."""
        assert self._catalog is not None
        try:
            self._catalog.add(entry)
        except DependencyUnavailable:
            logger.error("manual crop stored but not catalogued", extra={"image_id": entry.image_id})

    async def run_limited[T](self, work: Callable[[], T]) -> T:
        """`work` (CPU-bound image work) in a worker thread, in one of the IMAGE_CONCURRENCY slots crops use."""
        return await anyio.to_thread.run_sync(work, limiter=self._limiter)

    async def read(self, requested_path: str) -> StoredImage | None:
        return await anyio.to_thread.run_sync(self._results.fetch, requested_path)

    async def stat(self, requested_path: str) -> StoredObject | None:
        return await anyio.to_thread.run_sync(self._results.stat, requested_path)

    async def presigned_url(self, key: str, ttl_seconds: int) -> str:
        if self._direct_links is None:
            raise RuntimeError("this storage has no presigned URLs; Settings refuses IMAGE_DELIVERY=redirect")
        return self._direct_links.presigned_url(key, ttl_seconds)  # signed locally, no network call

    async def probe(self, source: ImageSource) -> imaging.ImageInfo:
        # Only the header is decoded (no pixels), so accepting an upload never waits for a crop slot.
        info = await anyio.to_thread.run_sync(self._probe, source, limiter=self._probe_limiter)
        if imaging.decode_cost(info) > self._budget.total:
            raise ImageTooLarge(
                "source_image would need more memory to decode than the service allows", field="source_image"
            )
        return info

    def _probe(self, source: ImageSource) -> imaging.ImageInfo:
        return imaging.probe(read_source(source), max_pixels=self._max_pixels)

    def _crop_and_store(self, source: ImageSource, box: CropBox, key: str) -> int:
        # Read here, in the crop's own slot: uploads waiting for one stay spooled, out of memory.
        jpeg = imaging.crop_to_jpeg(
            read_source(source), box, max_pixels=self._max_pixels, quality=self._quality, budget=self._budget
        )
        self._results.save(key, jpeg)
        return len(jpeg)
