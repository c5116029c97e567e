from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ..observability import service_logger
from ..services import Services
from .body_guard import RequestBodyGuard, UploadBudget
from .errors import install_error_handlers
from .middleware import RequestContextMiddleware, ResponseHeadersMiddleware
from .openapi import route_name, with_common_headers
from .routes import health, images, jobs


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
    )
    app.state.services = services
    install_error_handlers(app)
    app.include_router(images.router)
    app.include_router(jobs.router)
    app.include_router(health.router)
    settings = services.settings
    app.add_middleware(
        RequestBodyGuard,
        max_upload_bytes=settings.max_upload_bytes,
        budget=UploadBudget(settings.upload_budget_bytes),
        read_timeout_seconds=settings.body_read_timeout_seconds,
    )
    app.add_middleware(ResponseHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware)
    with_common_headers(app)
    return app
