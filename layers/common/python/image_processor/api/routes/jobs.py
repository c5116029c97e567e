import re

from fastapi import APIRouter, Request

from ...errors import NotFound
from ..deps import ServicesDep
from ..errors import error_responses
from ..links import image_url
from ..schemas import JobView

router = APIRouter(prefix="/jobs", tags=["jobs"])

_IMAGE_ID_RE = re.compile(r"[0-9a-f]{32}")


@router.get("/{image_id}", responses=error_responses(404, 503))
async def read_job(image_id: str, request: Request, services: ServicesDep) -> JobView:
    """Where a smart crop stands: pending, processing, succeeded or failed (with the reason)."""
    job = await services.smart_crop.status(image_id) if _IMAGE_ID_RE.fullmatch(image_id) else None
    if job is None:
        raise NotFound("No smart-crop job has this id.")
    retrieval_url = image_url(request, job.result_key)
    return JobView(image_id=job.image_id, status=job.status, retrieval_url=retrieval_url, error=job.error)
