from fastapi import APIRouter, Response

from ...errors import NotFound
from ..deps import ServicesDep

router = APIRouter(tags=["health"])


# Outside the OpenAPI contract: an operator's endpoint for a Prometheus scraper, not a client's.
@router.get("/metrics", include_in_schema=False)
async def read_metrics(services: ServicesDep) -> Response:
    """The service's counters and timings in Prometheus's text format (uvicorn and the container; on Lambda
    they are EMF lines in the log, and this answers 404)."""
    if services.metrics_exposition is None:
        raise NotFound("Metrics are published to CloudWatch here, not served.")
    from ...metrics.prometheus import CONTENT_TYPE

    return Response(services.metrics_exposition(), media_type=CONTENT_TYPE)
