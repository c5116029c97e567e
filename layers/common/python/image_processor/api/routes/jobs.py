from fastapi import APIRouter, Request, Response

from ...errors import NotFound
from ...ids import is_image_id
from ..catalog_schemas import ChecksView
from ..deps import ServicesDep
from ..errors import NO_STORE, error_responses
from ..links import image_url, rendition_urls
from ..schemas import JobView, WebhookView

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("/{image_id}", responses=error_responses(404, 503))
async def read_job(image_id: str, request: Request, response: Response, services: ServicesDep) -> JobView:
    """Where a smart crop stands: pending, processing, succeeded or failed (with the reason)."""
    # A job changes state: a cached answer would hide it.
    response.headers.update(NO_STORE)
    job = await services.smart_crop.status(image_id) if is_image_id(image_id) else None
    if job is None:
        raise NotFound("No smart-crop job has this id.")
    return JobView(
        image_id=job.image_id,
        status=job.status,
        retrieval_url=image_url(request, job.result_key),
        renditions=rendition_urls(request, job.product_id, job.image_id, services.renditions.catalogue),
        error=job.error,
        crop_box=job.crop_box,
        object_found=job.object_found,
        checks=ChecksView.model_validate(job.checks) if job.checks else None,
        webhook=WebhookView(url=job.callback_url, attempts=job.webhook_attempts, last_status=job.webhook_status)
        if job.callback_url
        else None,
    )
