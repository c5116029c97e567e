"""Serve the API with uvicorn for local development and the container image."""

import uvicorn
from pydantic import Field
from pydantic_settings import BaseSettings

from image_processor.api import create_app
from image_processor.assembly import build_services
from image_processor.observability import service_logger
from image_processor.settings import get_settings


class ServerSettings(BaseSettings):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)


def main() -> None:
    settings = get_settings()
    server = ServerSettings()
    service_logger(settings.log_level)
    uvicorn.run(
        create_app(build_services(settings)),
        host=server.host,
        port=server.port,
        # The app resolves the client address itself (TRUSTED_PROXIES); uvicorn must not rewrite it.
        proxy_headers=False,
        server_header=False,
        access_log=False,
        log_level=settings.log_level.lower(),
    )


if __name__ == "__main__":
    main()
