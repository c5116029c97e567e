from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from ..observability import service_logger
from ..services import Services
from .admission import ReplayAnswer
from .errors import install_error_handlers
from .middleware.body_guard import RequestBodyGuard, UploadBudget
from .middleware.idempotency import AnswerRecorderMiddleware, replay_response
from .middleware.origin_guard import OriginGuardMiddleware
from .middleware.request_context import RequestContextMiddleware, ResponseHeadersMiddleware
from .middleware.stage_prefix import StagePrefixMiddleware
from .openapi import route_name, with_common_headers
from .routes import docs, health, images, jobs, products, studio, uploads


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
        generate_unique_id_function=route_name,
        # /docs is served by routes/docs.py from vendored files; ReDoc would load its script from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    install_error_handlers(app)
    app.add_exception_handler(ReplayAnswer, replay_response)
    app.include_router(products.router)  # before images: /images/{product}/{image}/checks is not an image path
    app.include_router(images.router)
    app.include_router(jobs.router)
    app.include_router(uploads.router)
    app.include_router(health.router)
    app.include_router(docs.router)
    app.include_router(studio.router)
    studio.mount_static(app)
    settings = services.settings
    # The last added runs first: ids and logs, common headers, CORS answers, the origin check (before any
    # body byte is reserved or read), the body guard, then the keeping of Idempotency-Key answers.
    app.add_middleware(AnswerRecorderMiddleware, answers=services.answers)
    app.add_middleware(
        RequestBodyGuard,
        max_upload_bytes=settings.max_upload_bytes,
        budget=UploadBudget(settings.upload_budget_bytes),
        read_timeout_seconds=settings.body_read_timeout_seconds,
    )
    _add_origin_checks(app, services)
    app.add_middleware(ResponseHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(StagePrefixMiddleware)
    with_common_headers(app)
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
            allow_methods=["GET", "HEAD", "POST", "DELETE"],
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
