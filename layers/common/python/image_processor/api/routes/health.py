import anyio
from fastapi import APIRouter

from ...errors import DependencyUnavailable
from ..deps import ServicesDep
from ..errors import error_responses
from ..schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", responses=error_responses())
async def read_health() -> Health:
    """Liveness: answers without touching storage or AWS."""
    return Health()


@router.get("/ready", responses=error_responses(503))
async def read_readiness(services: ServicesDep) -> Health:
    """Readiness: DynamoDB's tables and the image storage answer (503 naming what does not)."""
    failed = await anyio.to_thread.run_sync(services.readiness.failures)
    if failed:
        raise DependencyUnavailable(f"Not ready: {', '.join(failed)} did not answer.")
    return Health()
