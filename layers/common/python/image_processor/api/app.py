from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from ..observability import service_logger
from ..services import Services
from .admission import ReplayAnswer
from .errors import install_error_handlers
from .idempotency import AnswerRecorderMiddleware, replay_response
from .middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from .origin_guard import OriginGuardMiddleware
from .routes import health, images, jobs

_MULTIPART_OVERHEAD_BYTES = 256 * 1024


def create_app(services: Services) -> FastAPI:
    service_logger(services.settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.store.ensure_ready()
        await services.dispatcher.start()
        try:
            yield
        finally:
            await services.dispatcher.stop()

    app = FastAPI(
        title="Product Image Processor",
        version="1.0.0",
        summary="Crops product photos by hand or by AI and serves the results.",
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    app.add_exception_handler(ReplayAnswer, replay_response)
    app.include_router(images.router)
    app.include_router(jobs.router)
    app.include_router(health.router)
    # The last added runs first: ids and logs, CORS answers, the origin check, the body cap, then answer keeping.
    app.add_middleware(AnswerRecorderMiddleware, answers=services.answers)
    app.add_middleware(
        BodySizeLimitMiddleware, max_body_bytes=services.settings.max_upload_bytes + _MULTIPART_OVERHEAD_BYTES
    )
    _add_origin_checks(app, services)
    app.add_middleware(RequestContextMiddleware)
    return app


def _add_origin_checks(app: FastAPI, services: Services) -> None:
    settings = services.settings
    app.add_middleware(
        OriginGuardMiddleware, allowed_origins=settings.cors_allowed_origins, trusted_proxies=settings.trusted_proxies
    )
    if settings.cors_allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allowed_origins,
            allow_methods=["GET", "HEAD", "POST"],
            allow_headers=["Content-Type", "X-API-Key", "Idempotency-Key", "X-Request-ID"],
            expose_headers=[
                "Location",
                "Retry-After",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
                "X-Request-ID",
                "Idempotent-Replayed",
            ],
            max_age=600,
        )
