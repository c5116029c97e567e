from typing import Any

import anyio
from fastapi import APIRouter, Request, Response, status
from starlette.convertors import Convertor, register_url_convertor

from ...errors import NotFound
from ...storage.spool import ImageSource
from ..admission import ManualCropAdmissionDep, SmartCropAdmissionDep
from ..caching import IMMUTABLE, etag_matches
from ..deps import ServicesDep
from ..errors import error_responses
from ..forms import Upload, parse_crop_box, parse_product_info, parse_rendition_names, read_upload
from ..links import image_url, job_url, rendition_urls
from ..openapi import ETAG, LOCATION, RATE_LIMIT
from ..schemas import ImageCreated, SmartCropAccepted
from .form_schemas import multipart_body
from .products import checks_view


class _ImagePathConvertor(Convertor[str]):
    """`<product_id>/<file>`: at least two segments. So `GET /images/manual-crop` reaches no image route,
    and the router answers 405 (Allow: POST) instead of looking for an image called `manual-crop`."""

    regex = "[^/]+/.+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("image_path", _ImagePathConvertor())
router = APIRouter(prefix="/images", tags=["images"])


@router.post(
    "/manual-crop",
    # The contract's body is {"image_id", "retrieval_url"}; `checks` only when a profile was asked for.
    response_model_exclude_none=True,
    responses=error_responses(400, 401, 403, 404, 408, 409, 410, 413, 415, 422, 429, 503),
    openapi_extra=multipart_body(with_crop_box=True),
)
async def create_manual_crop(
    request: Request, services: ServicesDep, admission: ManualCropAdmissionDep
) -> ImageCreated:
    """Crop the upload to `crop_box` now and store it as a JPEG, with the renditions named in `renditions`."""
    upload = await read_upload(
        request,
        max_upload_bytes=services.settings.max_upload_bytes,
        text_fields=("product_info", "crop_box"),
        optional_fields=("renditions", "profile"),
        spool_dir=services.settings.upload_spool_dir,
    )
    try:
        product, box = parse_product_info(upload), parse_crop_box(upload)
        eager = parse_rendition_names(upload, services.renditions.catalogue)
        profile = upload.fields.get("profile")
        if profile is not None:
            services.product_images.profile(profile)

        async def crop() -> ImageCreated:
            await admission.spend()
            created = await services.images.crop_and_store(await _source(upload, services), product.product_id, box)
            await services.renditions.make_eagerly(product.product_id, created.image_id, eager)
            checks = None
            if profile is not None:
                report = await services.product_images.checks(product.product_id, created.image_id, profile)
                checks = checks_view(report)
            return ImageCreated(
                image_id=created.image_id,
                retrieval_url=image_url(request, created.key),
                renditions=rendition_urls(request, product.product_id, created.image_id, services.renditions.catalogue),
                checks=checks,
            )

        return await admission.once(upload, crop, ImageCreated)
    finally:
        upload.close()


@router.post(
    "/smart-crop",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        202: {"headers": {**LOCATION, **RATE_LIMIT}},
        **error_responses(400, 401, 403, 404, 408, 409, 410, 413, 415, 422, 429, 503),
    },
    openapi_extra=multipart_body(with_crop_box=False),
)
async def create_smart_crop(
    request: Request, response: Response, services: ServicesDep, admission: SmartCropAdmissionDep
) -> SmartCropAccepted:
    """Accept the upload for an AI crop in the background; poll `retrieval_url` or `status_url`."""
    upload = await read_upload(
        request,
        max_upload_bytes=services.settings.max_upload_bytes,
        text_fields=("product_info",),
        optional_fields=("renditions", "callback_url", "profile"),
        spool_dir=services.settings.upload_spool_dir,
    )
    try:
        product = parse_product_info(upload)
        eager = parse_rendition_names(upload, services.renditions.catalogue)
        callback_url, profile = upload.fields.get("callback_url"), upload.fields.get("profile")
        if callback_url is not None:
            services.smart_crop.check_callback(callback_url)
        if profile is not None:
            services.product_images.profile(profile)

        async def accept() -> SmartCropAccepted:
            job = await services.smart_crop.accept(
                await _source(upload, services),
                product.product_id,
                admit=admission.spend,
                renditions=eager,
                callback_url=callback_url,
                checks_profile=profile,
            )
            status_url = job_url(request, job.image_id)
            response.headers["Location"] = status_url
            return SmartCropAccepted(
                image_id=job.image_id,
                retrieval_url=image_url(request, job.result_key),
                renditions=rendition_urls(request, job.product_id, job.image_id, services.renditions.catalogue),
                status_url=status_url,
            )

        return await admission.once(upload, accept, SmartCropAccepted)
    finally:
        upload.close()


async def _source(upload: Upload, services: ServicesDep) -> ImageSource:
    """The uploaded image, or the direct upload it names (consumed here, after the other fields passed)."""
    if upload.source is not None:
        return upload.source
    assert upload.upload_id is not None  # read_upload requires one of the two
    return await anyio.to_thread.run_sync(services.uploads.consume, upload.upload_id)


_IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}, "headers": ETAG},
    304: {"description": "Not modified (If-None-Match)", "headers": ETAG},
    307: {
        "description": "IMAGE_DELIVERY=redirect: a short-lived presigned URL of the JPEG in `Location`",
        "headers": LOCATION,
    },
    **error_responses(404),
}


@router.get("/{image_path:image_path}", response_class=Response, responses=_IMAGE_RESPONSES)
@router.head("/{image_path:image_path}", response_class=Response, responses=_IMAGE_RESPONSES, name="read_image_headers")
async def read_image(image_path: str, request: Request, services: ServicesDep) -> Response:
    """The processed image at `image_path`: its bytes, or with IMAGE_DELIVERY=redirect a 307 to storage."""
    inline = request.method == "GET" and services.settings.image_delivery == "inline"
    stored = await services.images.read(image_path) if inline else None
    found = (stored.object if stored else None) if inline else await services.images.stat(image_path)
    if found is None:
        raise NotFound("No processed image exists at this path.")
    headers = {"ETag": found.etag, "Cache-Control": IMMUTABLE}
    if etag_matches(found.etag, request.headers.get("if-none-match")):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    if request.method == "GET" and not inline:
        url = await services.images.presigned_url(found.key, services.settings.presigned_url_ttl_seconds)
        # The URL expires: the redirect itself must not be cached longer than it is valid.
        return Response(
            status_code=status.HTTP_307_TEMPORARY_REDIRECT, headers={"Location": url, "Cache-Control": "no-store"}
        )
    headers["Content-Length"] = str(found.size)
    return Response(content=stored.content if stored else b"", media_type="image/jpeg", headers=headers)
