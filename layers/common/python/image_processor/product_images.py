"""A product's images as a catalog: listing them and deleting one with everything made from it."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import anyio
from aws_lambda_powertools import Logger

from .catalog.records import CatalogEntry, CatalogPage, DynamoDBCatalog
from .errors import InvalidRequest, NotFound
from .imaging.checks import BUILT_IN_PROFILE, CheckReport, Profile, profile_named, run_checks
from .jobs.acceptance import SmartCropService
from .jobs.records import DELETED, JobStore
from .observability import SERVICE_NAME
from .presets import MEDIA_TYPES
from .storage.interfaces import ResultStore, StagingArea
from .storage.keys import image_folder, rendition_key, result_key

logger = Logger(service=SERVICE_NAME, child=True)


class Invalidator(Protocol):
    def invalidate(self, paths: Sequence[str]) -> None: ...


@dataclass(frozen=True)
class ProductImages:
    catalog: DynamoDBCatalog
    results: ResultStore
    staging: StagingArea
    jobs: JobStore
    smart_crop: SmartCropService
    # The CDN in front of the images (CDN_DISTRIBUTION_ID), if the deployment has one.
    cdn: Invalidator | None = None
    profiles: Mapping[str, Profile] = field(default_factory=lambda: {BUILT_IN_PROFILE: Profile()})

    def profile(self, name: str) -> Profile:
        """The named check profile; InvalidRequest (422, field `profile`) listing those there are."""
        return profile_named(self.profiles, name)

    async def checks(
        self, product_id: str, image_id: str, profile: str, *, rendition: str | None = None
    ) -> CheckReport:
        """The stored image, or one of its renditions (`listing`, the JPEG, or `listing.webp`), checked against
        the profile's rules."""
        rules = self.profile(profile)
        key = result_key(product_id, image_id)
        if rendition is not None:
            key = await self._rendition_key(product_id, image_id, rendition)
        stored = await anyio.to_thread.run_sync(self.results.fetch, key)
        if stored is None:
            if rendition is not None:
                raise NotFound(
                    f"The {rendition} rendition of this image is not stored (yet): request it first.", field="rendition"
                )
            raise NotFound("No image of this product has this id.")
        return await anyio.to_thread.run_sync(run_checks, stored.content, profile, rules)

    async def _rendition_key(self, product_id: str, image_id: str, rendition: str) -> str:
        name, _, extension = rendition.partition(".")
        fmt = extension or "jpg"
        if fmt not in MEDIA_TYPES:
            formats = ", ".join(MEDIA_TYPES)
            raise InvalidRequest(f"rendition {rendition!r}: the format must be one of {formats}.", field="rendition")
        entry = await anyio.to_thread.run_sync(self.catalog.get, product_id, image_id)
        if entry is None or name not in {item.preset for item in entry.renditions}:
            raise NotFound("This image has no rendition of that name.", field="rendition")
        return rendition_key(product_id, image_id, name, fmt)

    async def list(self, product_id: str, *, limit: int, cursor: str | None) -> CatalogPage:
        page = await anyio.to_thread.run_sync(lambda: self.catalog.list(product_id, limit=limit, cursor=cursor))
        return replace(page, entries=[await self._current(entry) for entry in page.entries])

    async def _current(self, entry: CatalogEntry) -> CatalogEntry:
        """A smart crop still unfinished in the catalog: its job's own state (which also fails a job past
        its deadline, and so updates the entry). The catalog is updated when a job ends, so this is a
        read only for the few entries caught in between."""
        if entry.source != "smart" or entry.status in ("succeeded", "failed"):
            return entry
        job = await self.smart_crop.status(entry.image_id)
        if job is None:
            return entry
        box = job.crop_box
        return replace(
            entry,
            status=job.status,
            crop_box=box,
            object_found=job.object_found,
            size_bytes=job.size_bytes,
            width=box.width if box else None,
            height=box.height if box else None,
        )

    async def delete(self, product_id: str, image_id: str) -> None:
        """The image, its renditions, its job record and its catalog entry; NotFound if none of it is there.

        A job still running is marked failed ("deleted") and keeps its record (until its TTL): the worker
        then discards its result, as it does any late result. The catalog entry goes last, so a delete that
        fails part-way can be repeated."""
        await anyio.to_thread.run_sync(self._delete, product_id, image_id)

    def _delete(self, product_id: str, image_id: str) -> None:
        key = result_key(product_id, image_id)
        entry = self.catalog.get(product_id, image_id)
        if entry is None and self.results.stat(key) is None:
            raise NotFound("No image of this product has this id.")
        if entry is None or entry.source == "smart":
            self._end_job(image_id)
        self.results.delete(key)
        self.results.delete_folder(image_folder(product_id, image_id))
        if self.cdn is not None:
            # The CDN serves an object at /images/<key> (and a negotiated rendition at its key without extension).
            self.cdn.invalidate([f"/images/{key}", f"/images/{image_folder(product_id, image_id)}*"])
        self.catalog.delete(product_id, image_id)
        logger.info("image deleted", extra={"product_id": product_id, "image_id": image_id})

    def _end_job(self, image_id: str) -> None:
        job = self.jobs.get(image_id)
        if job is None:
            return
        if not job.is_terminal and self.jobs.fail(image_id, DELETED):
            self.staging.discard_staged(image_id)
            return
        self.jobs.delete(image_id)
