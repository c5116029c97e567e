from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ..observability import service_logger
from ..services import Services
from .errors import install_error_handlers
from .middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from .routes import docs, health, images, jobs, studio, uploads
from .stage import StagePrefixMiddleware

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
        # /docs is served by routes/docs.py from vendored files; ReDoc would load its script from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    install_error_handlers(app)
    app.include_router(images.router)
    app.include_router(jobs.router)
    app.include_router(uploads.router)
    app.include_router(health.router)
    app.include_router(docs.router)
    app.include_router(studio.router)
    studio.mount_static(app)
    app.add_middleware(
        BodySizeLimitMiddleware, max_body_bytes=services.settings.max_upload_bytes + _MULTIPART_OVERHEAD_BYTES
    )
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(StagePrefixMiddleware)
    return app
