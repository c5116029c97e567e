"""A product's images: the catalog listing and deletion."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from starlette.convertors import Convertor, register_url_convertor

from ...catalog.records import MAX_PAGE_SIZE, CatalogEntry
from ...imaging.checks import BUILT_IN_PROFILE, CheckReport
from ...models import PRODUCT_ID_PATTERN
from ..admission import take_checks_slot
from ..catalog_schemas import CatalogImage, CatalogPageView, ChecksView, CheckView, RenditionView
from ..deps import ApiKeyRequiredDep, ServicesDep
from ..errors import NO_STORE, error_responses
from ..links import image_url
from ..schemas import ErrorBody


class _ImageIdConvertor(Convertor[str]):
    """32 hex digits: `/images/{product}/{name}.jpg` is an image path (GET, HEAD), never an image id, so a
    DELETE there is a 405 that allows GET and HEAD."""

    regex = "[0-9a-f]{32}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("image_id", _ImageIdConvertor())
router = APIRouter(tags=["catalog"])

ProductId = Annotated[str, Path(pattern=PRODUCT_ID_PATTERN, examples=["ABC-123"])]


@router.get("/products/{product_id}/images", responses=error_responses(422, 503))
async def list_product_images(
    product_id: ProductId,
    request: Request,
    response: Response,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Images per page")] = 20,
    next: Annotated[str | None, Query(description="The `next` of the previous page")] = None,
) -> CatalogPageView:
    """The product's images, newest first, with their source, job state, size and renditions."""
    response.headers.update(NO_STORE)  # entries change as jobs end
    page = await services.product_images.list(product_id, limit=limit, cursor=next)
    return CatalogPageView(images=[_view(request, entry) for entry in page.entries], next=page.next)


@router.delete(
    "/images/{product_id}/{image_id:image_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    dependencies=[ApiKeyRequiredDep],
    responses={
        **error_responses(401, 403, 404, 422, 503),
        403: {"model": ErrorBody, "description": "The service has no API keys (API_KEYS), so nobody may delete"},
    },
)
async def delete_image(product_id: ProductId, image_id: str, services: ServicesDep) -> Response:
    """Delete the image, its renditions, its job record and its catalog entry (a smart crop still
    running is marked failed, "deleted", and its result discarded)."""
    await services.product_images.delete(product_id, image_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/images/{product_id}/{image_id:image_id}/checks",
    responses=error_responses(404, 415, 422, 429, 503),
    dependencies=[Depends(take_checks_slot)],
)
async def check_image(
    product_id: ProductId,
    image_id: str,
    services: ServicesDep,
    profile: Annotated[str, Query(max_length=64, description="A check profile")] = BUILT_IN_PROFILE,
    rendition: Annotated[
        str | None,
        Query(
            max_length=64,
            description="Check this rendition instead: `listing` (its JPEG) or `listing.webp`, `listing.avif`",
            examples=["listing.webp"],
        ),
    ] = None,
) -> ChecksView:
    """The stored image checked against a profile's rules (the built-in `marketplace`: white background,
    product fill, long side, sRGB JPEG), measured on a shrink-on-load preview. Limited per client
    (CHECKS_RATE_LIMIT_REQUESTS)."""
    report = await services.product_images.checks(product_id, image_id, profile, rendition=rendition)
    return checks_view(report)


def checks_view(report: CheckReport) -> ChecksView:
    return ChecksView(
        profile=report.profile,
        passed=report.passed,
        checks=[
            CheckView(name=c.name, passed=c.passed, measured=c.measured, required=c.required) for c in report.checks
        ],
    )


def _view(request: Request, entry: CatalogEntry) -> CatalogImage:
    return CatalogImage(
        image_id=entry.image_id,
        retrieval_url=image_url(request, f"{entry.product_id}/{entry.image_id}.jpg"),
        created_at=datetime.fromtimestamp(entry.created_at, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        source=entry.source,
        status=entry.status,
        crop_box=entry.crop_box,
        object_found=entry.object_found,
        size_bytes=entry.size_bytes,
        width=entry.width,
        height=entry.height,
        renditions=[RenditionView(preset=item.preset, url=image_url(request, item.key)) for item in entry.renditions],
    )
