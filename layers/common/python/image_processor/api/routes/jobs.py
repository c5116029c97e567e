import re

from fastapi import APIRouter, Request, Response

from ...errors import NotFound
from ..catalog_schemas import ChecksView
from ..deps import ServicesDep
from ..errors import NO_STORE, error_responses
from ..links import image_url
from ..schemas import JobView, WebhookView

router = APIRouter(prefix="/jobs", tags=["jobs"])

_IMAGE_ID_RE = re.compile(r"[0-9a-f]{32}")


@router.get("/{image_id}", responses=error_responses(404, 503))
async def read_job(image_id: str, request: Request, response: Response, services: ServicesDep) -> JobView:
    """Where a smart crop stands: pending, processing, succeeded or failed (with the reason)."""
    # A job changes state: a cached answer would hide it.
    response.headers.update(NO_STORE)
    job = await services.smart_crop.status(image_id) if _IMAGE_ID_RE.fullmatch(image_id) else None
    if job is None:
        raise NotFound("No smart-crop job has this id.")
    return JobView(
        image_id=job.image_id,
        status=job.status,
        retrieval_url=image_url(request, job.result_key),
        error=job.error,
        crop_box=job.crop_box,
        object_found=job.object_found,
        checks=ChecksView.model_validate(job.checks) if job.checks else None,
        webhook=WebhookView(url=job.callback_url, attempts=job.webhook_attempts, last_status=job.webhook_status)
        if job.callback_url
        else None,
    )
