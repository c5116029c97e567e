"""Serve the API with uvicorn for local development and the container image."""

from typing import Any

import uvicorn
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from pydantic import Field
from pydantic_settings import BaseSettings
from uvicorn.protocols.http.h11_impl import H11Protocol

from image_processor.api import create_app
from image_processor.api.connection_guard import ConnectionGuard
from image_processor.assembly import build_services
from image_processor.observability import SERVICE_NAME
from image_processor.settings import get_settings


def _json_log_config(level: str) -> dict[str, Any]:
    """uvicorn's own lines (start-up, errors) in the same JSON shape as the service's."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": LambdaPowertoolsFormatter, "service": SERVICE_NAME}},
        "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json"}},
        "loggers": {"uvicorn": {"handlers": ["json"], "level": level.upper(), "propagate": False}},
    }


class ServerSettings(BaseSettings):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Past this many open connections (or requests in progress) uvicorn answers new requests 503 at once.
    limit_concurrency: int = Field(default=100, ge=1)
    # An idle keep-alive connection is closed after this long.
    keep_alive_timeout_seconds: int = Field(default=5, ge=1)
    # A request's headers must be complete this long after the connection opened (or the last response).
    header_read_timeout_seconds: float = Field(default=10.0, gt=0)
    # Connections one client address may hold open; unset, a quarter of LIMIT_CONCURRENCY. A TRUSTED_PROXIES
    # peer is exempt: behind a reverse proxy every connection comes from it, and it limits clients itself.
    max_connections_per_client: int | None = Field(default=None, ge=1)

    @property
    def connections_per_client(self) -> int:
        return self.max_connections_per_client or max(self.limit_concurrency // 4, 1)


# uvicorn's default, stated: request headers larger than this are refused with a 400.
_MAX_HEADER_BYTES = 16 * 1024


def main() -> None:
    settings = get_settings()
    server = ServerSettings()
    services = build_services(settings)
    guard = ConnectionGuard(
        header_read_timeout_seconds=server.header_read_timeout_seconds,
        connections_per_client=server.connections_per_client,
        exempt=settings.trusted_proxies,
    )
    uvicorn.run(
        guard.app(create_app(services)),
        host=server.host,
        port=server.port,
        # The app resolves the client address itself (TRUSTED_PROXIES); uvicorn must not rewrite it. The
        # guard also finds each request's connection by this address and port.
        proxy_headers=False,
        server_header=False,
        # uvicorn's HTTP/1.1 protocol (its "h11" setting) behind the guard; no WebSocket upgrades, which
        # would hand the connection to another protocol the guard does not see.
        http=guard.protocol(H11Protocol),
        ws="none",
        limit_concurrency=server.limit_concurrency,
        timeout_keep_alive=server.keep_alive_timeout_seconds,
        h11_max_incomplete_event_size=_MAX_HEADER_BYTES,
        access_log=False,
        log_config=_json_log_config(settings.log_level),
    )


if __name__ == "__main__":
    main()
