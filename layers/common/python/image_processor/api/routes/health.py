from fastapi import APIRouter

from ...models import Health
from ..errors import error_responses

router = APIRouter(tags=["health"])


@router.get("/health", responses=error_responses())
async def read_health() -> Health:
    """Liveness: answers without touching storage or AWS."""
    return Health()
