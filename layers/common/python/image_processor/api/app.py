from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from ..observability import service_logger
from ..services import Services
from .errors import install_error_handlers
from .middleware.body_guard import MULTIPART_OVERHEAD_BYTES, RequestBodyGuard, UploadBudget
from .middleware.crop_metrics import CropMetricsMiddleware
from .middleware.host_guard import HostGuardMiddleware
from .middleware.origin_guard import OriginGuardMiddleware
from .middleware.request_context import RequestContextMiddleware, ResponseHeadersMiddleware
from .middleware.stage_prefix import StagePrefixMiddleware
from .openapi import route_name, with_common_headers
from .routes import docs, health, images, jobs, metrics, products, renditions, studio, uploads
from .upload_sweep import MAX_SWEEP_INTERVAL_SECONDS, sweep_uploads_periodically


def create_app(services: Services) -> FastAPI:
    service_logger(services.settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.storage.start()
        services.metrics.cold_start()
        await services.dispatcher.start()
        # A quarter of the TTL: an upload is gone at most that long after its use-by time.
        interval = min(services.settings.upload_ttl_seconds / 4, MAX_SWEEP_INTERVAL_SECONDS)
        try:
            async with anyio.create_task_group() as housekeeping:
                housekeeping.start_soon(sweep_uploads_periodically, services.uploads, interval)
                yield
                housekeeping.cancel_scope.cancel()
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
    # Before renditions and images: /images/{product}/{image}/checks is neither a rendition nor an image path.
    app.include_router(products.router)
    # Before images: its `/images/{image_path}` would also match a rendition's three segments.
    app.include_router(renditions.router)
    app.include_router(images.router)
    app.include_router(jobs.router)
    app.include_router(uploads.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(docs.router)
    app.include_router(studio.router)
    studio.mount_static(app)
    settings = services.settings
    # The last added runs first: ids and logs, crop counts (every answer of a crop route), common headers,
    # the Host check, CORS answers, the origin check (before any body byte is reserved or read), then the
    # body guard.
    app.add_middleware(
        RequestBodyGuard,
        max_upload_bytes=settings.max_upload_bytes,
        budget=UploadBudget(
            settings.upload_budget_bytes,
            client_bytes=settings.upload_budget_client_bytes,
            client_minimum_bytes=settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES,
        ),
        read_timeout_seconds=settings.body_read_timeout_seconds,
        trusted_proxies=settings.trusted_proxies,
    )
    _add_origin_checks(app, services)
    app.add_middleware(HostGuardMiddleware, allowed_hosts=settings.allowed_hosts)
    app.add_middleware(ResponseHeadersMiddleware)
    app.add_middleware(CropMetricsMiddleware, metrics=services.metrics)
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(StagePrefixMiddleware)
    with_common_headers(app)
    return app


def _add_origin_checks(app: FastAPI, services: Services) -> None:
    settings = services.settings
    app.add_middleware(
        OriginGuardMiddleware,
        allowed_origins=settings.cors_allowed_origins,
        trusted_proxies=settings.trusted_proxies,
        public_origin=settings.public_base_url,
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
