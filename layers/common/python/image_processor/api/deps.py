from typing import Annotated

import anyio
from aws_lambda_powertools import Logger
from fastapi import Depends, Request, Response

from ..client_ip import client_address, rate_limit_key
from ..errors import InvalidRequest, RateLimited
from ..observability import SERVICE_NAME
from ..rate_limit import RateLimitDecision
from ..services import Services

logger = Logger(service=SERVICE_NAME, child=True)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_client_address(request: Request, services: ServicesDep) -> str:
    peer = request.client.host if request.client else None
    address = client_address(peer, request.headers.getlist("x-forwarded-for"), services.settings.trusted_proxies)
    if address is None:
        raise InvalidRequest("The client address could not be determined.")
    request.state.client_ip = address
    logger.thread_safe_append_keys(client_ip=address)
    return address


ClientAddressDep = Annotated[str, Depends(get_client_address)]


async def enforce_smart_crop_rate_limit(
    response: Response, services: ServicesDep, address: ClientAddressDep
) -> RateLimitDecision:
    """Runs before the body is read, so a refused request costs no parsing and no image work."""
    decision = await anyio.to_thread.run_sync(services.rate_limiter.acquire, rate_limit_key(address))
    if not decision.allowed:
        raise RateLimited(
            f"Smart crop is limited to {decision.limit} requests per "
            f"{services.settings.rate_limit_window_seconds} seconds per client; "
            f"retry in {decision.reset_after_seconds} seconds.",
            retry_after_seconds=decision.reset_after_seconds,
            limit=decision.limit,
        )
    response.headers.update(rate_limit_headers(decision))
    return decision


def rate_limit_headers(decision: RateLimitDecision) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(decision.reset_after_seconds),
    }


SmartCropQuotaDep = Annotated[RateLimitDecision, Depends(enforce_smart_crop_rate_limit)]
