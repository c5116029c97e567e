from fastapi import APIRouter

from ...models import Health

router = APIRouter(tags=["health"])


@router.get("/health")
async def read_health() -> Health:
    """Liveness: answers without touching storage or AWS."""
    return Health()
