"""Renditions made once: from the stored image on first request (or eagerly after a crop), stored beside it.

Coalesced twice. In a process, concurrent first requests for one rendition wait for a single generation.
Across processes, the store's create-if-absent (an `os.link` on the file system, a PutObject with
If-None-Match on S3) keeps the first writer's object; a later writer discards its own bytes and serves
that one, so every answer for a rendition is the same bytes.
"""

import functools
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import anyio
from aws_lambda_powertools import Logger

from . import imaging
from .errors import DependencyUnavailable, NotFound
from .images import ImageService
from .metrics import ServiceMetrics, discarding
from .observability import SERVICE_NAME
from .presets import MEDIA_TYPES, Preset, PresetCatalogue, RenditionFormat
from .storage.interfaces import ResultStore, StoredImage, StoredObject
from .storage.keys import rendition_key, result_key

NO_IMAGE = "No processed image exists at this path."
logger = Logger(service=SERVICE_NAME, child=True)


# (the stored image, the preset, the format) -> the rendition's bytes
Renderer = Callable[[bytes, Preset, RenditionFormat], bytes]
# (product_id, image_id, preset, key) of a rendition now stored: the product's catalog notes it.
RenditionRecorder = Callable[[str, str, str, str], None]


@dataclass(frozen=True)
class RenditionMaker:
    """Synchronous: renders and stores renditions (in a worker thread, or in the smart-crop worker)."""

    results: ResultStore
    catalogue: PresetCatalogue
    render: Renderer
    formats: frozenset[RenditionFormat] = field(default_factory=imaging.encodable_formats)
    on_made: RenditionRecorder | None = None

    def formats_of(self, preset: Preset) -> list[RenditionFormat]:
        """The formats a preset is made in: those it allows that this service can encode."""
        return [fmt for fmt in preset.formats if fmt in self.formats]

    def make(self, source: bytes, product_id: str, image_id: str, name: str, fmt: RenditionFormat) -> StoredImage:
        """Render from `source` (the stored image) and store it; the stored rendition (perhaps a racing writer's)."""
        key = rendition_key(product_id, image_id, name, fmt)
        data = self.render(source, self.catalogue[name], fmt)
        created = self.results.create(key, data, content_type=MEDIA_TYPES[fmt])
        if created is not None:
            self._made(product_id, image_id, name, key)
            return StoredImage(created, data)
        stored = self.results.fetch(key)
        if stored is None:  # deleted since it was made: its image's job failed, and the image went with it
            raise NotFound(NO_IMAGE)
        return stored

    def make_all(self, source: bytes, product_id: str, image_id: str, names: Iterable[str]) -> None:
        """Every format of each named preset from `source`, the image just stored (the smart-crop worker)."""
        for name in self._known(names):
            preset = self.catalogue[name]
            for fmt in self.formats_of(preset):
                key = rendition_key(product_id, image_id, name, fmt)
                # None: already made (by a request, or an earlier attempt of this job); it stays.
                stored = self.results.create(key, self.render(source, preset, fmt), content_type=MEDIA_TYPES[fmt])
                if stored is not None:
                    self._made(product_id, image_id, name, key)

    def discard(self, product_id: str, image_id: str, names: Iterable[str]) -> None:
        """Delete the named presets' renditions (of a job that did not succeed after all)."""
        for name in self._known(names):
            for fmt in self.formats_of(self.catalogue[name]):
                self.results.delete(rendition_key(product_id, image_id, name, fmt))

    def _made(self, product_id: str, image_id: str, name: str, key: str) -> None:
        """The rendition is stored and served either way; a catalog outage only leaves it unlisted."""
        if self.on_made is None:
            return
        try:
            self.on_made(product_id, image_id, name, key)
        except DependencyUnavailable:
            logger.error("rendition stored but not catalogued", extra={"image_id": image_id, "key": key})

    def _known(self, names: Iterable[str]) -> list[str]:
        # A job recorded before the operator removed a preset still runs; that preset is skipped.
        return [name for name in names if name in self.catalogue]


@dataclass
class _Flight:
    done: anyio.Event = field(default_factory=anyio.Event)
    result: StoredImage | None = None
    error: Exception | None = None


class RenditionService:
    """Renditions for the API: read from storage, or made once (coalesced) on a first request."""

    def __init__(
        self, results: ResultStore, images: ImageService, maker: RenditionMaker, metrics: ServiceMetrics | None = None
    ) -> None:
        self._results = results
        self._images = images
        self._maker = maker
        self._metrics = metrics or discarding()
        self._flights: dict[str, _Flight] = {}

    @property
    def catalogue(self) -> PresetCatalogue:
        return self._maker.catalogue

    def formats_of(self, preset: Preset) -> list[RenditionFormat]:
        return self._maker.formats_of(preset)

    async def read(
        self, product_id: str, image_id: str, name: str, fmt: RenditionFormat, *, with_content: bool
    ) -> StoredObject | StoredImage:
        """The stored rendition (without its bytes unless `with_content`), made first if it is not there."""
        key = rendition_key(product_id, image_id, name, fmt)
        found = await anyio.to_thread.run_sync(self._results.fetch if with_content else self._results.stat, key)
        self._metrics.rendition_served(hit=found is not None)
        if found is not None:
            return found
        return await self._made_once(key, functools.partial(self._generate, product_id, image_id, name, fmt))

    async def make_eagerly(self, product_id: str, image_id: str, names: Iterable[str]) -> None:
        """Every format of each named preset, made now from the image just stored (after a manual crop), as many
        at a time as there are crop slots."""
        wanted = [(name, fmt) for name in names for fmt in self.formats_of(self.catalogue[name])]
        if not wanted:
            return
        source = await self._source(product_id, image_id)
        async with anyio.create_task_group() as group:
            for name, fmt in wanted:
                make = functools.partial(self._make_now, source, product_id, image_id, name, fmt)
                group.start_soon(self._made_once, rendition_key(product_id, image_id, name, fmt), make)

    async def presigned_url(self, key: str, ttl_seconds: int) -> str:
        return await self._images.presigned_url(key, ttl_seconds)

    async def _generate(self, product_id: str, image_id: str, name: str, fmt: RenditionFormat) -> StoredImage:
        key = rendition_key(product_id, image_id, name, fmt)
        # Looked for again: a request that missed it just before the previous generation stored it comes here.
        existing = await anyio.to_thread.run_sync(self._results.fetch, key)
        if existing is not None:
            return existing
        # Read before taking a crop slot: a request for an image that does not exist never waits for one.
        return await self._make_now(await self._source(product_id, image_id), product_id, image_id, name, fmt)

    async def _source(self, product_id: str, image_id: str) -> bytes:
        source = await anyio.to_thread.run_sync(self._results.fetch, result_key(product_id, image_id))
        if source is None:
            raise NotFound(NO_IMAGE)
        return source.content

    async def _make_now(
        self, source: bytes, product_id: str, image_id: str, name: str, fmt: RenditionFormat
    ) -> StoredImage:
        return await self._images.run_limited(
            functools.partial(self._maker.make, source, product_id, image_id, name, fmt)
        )

    async def _made_once(self, key: str, generate: Callable[[], Awaitable[StoredImage]]) -> StoredImage:
        flight = self._flights.get(key)
        if flight is not None:
            await flight.done.wait()
            if flight.error is not None:
                raise flight.error
            assert flight.result is not None
            return flight.result
        flight = self._flights[key] = _Flight()
        try:
            # Shielded: the waiters need the result even if the request that started it goes away.
            with anyio.CancelScope(shield=True):
                result = flight.result = await generate()
        except Exception as exc:
            flight.error = exc
            raise
        finally:
            del self._flights[key]
            flight.done.set()
        return result
