"""Serve the API with uvicorn for local development and the container image."""

import asyncio
from typing import Any

import h11
import uvicorn
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from pydantic import Field
from pydantic_settings import BaseSettings
from uvicorn.protocols.http.h11_impl import H11Protocol

from image_processor.api import create_app
from image_processor.assembly import build_services
from image_processor.observability import SERVICE_NAME, service_logger
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


# uvicorn's default, stated: request headers larger than this are refused with a 400.
_MAX_HEADER_BYTES = 16 * 1024


class _HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol plus the deadline on request headers it lacks: without it, a client that
    sends a header byte now and then holds its connection for as long as it likes."""

    header_read_timeout_seconds = 10.0
    _header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
        self._header_deadline = self.loop.call_later(self.header_read_timeout_seconds, self._headers_overdue)

    def _headers_overdue(self) -> None:
        # IDLE: h11 is still waiting for (the rest of) a request's headers.
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def _protocol_with_header_deadline(seconds: float) -> type[H11Protocol]:
    return type("HeaderDeadlineProtocol", (_HeaderDeadlineProtocol,), {"header_read_timeout_seconds": seconds})


def main() -> None:
    settings = get_settings()
    server = ServerSettings()
    logger = service_logger(settings.log_level)
    services = build_services(settings)
    removed = services.store.remove_abandoned_writes()
    if removed:
        logger.warning("removed temporary files left by an interrupted write", extra={"count": removed})
    uvicorn.run(
        create_app(services),
        host=server.host,
        port=server.port,
        # The app resolves the client address itself (TRUSTED_PROXIES); uvicorn must not rewrite it.
        proxy_headers=False,
        server_header=False,
        http=_protocol_with_header_deadline(server.header_read_timeout_seconds),
        limit_concurrency=server.limit_concurrency,
        timeout_keep_alive=server.keep_alive_timeout_seconds,
        h11_max_incomplete_event_size=_MAX_HEADER_BYTES,
        access_log=False,
        log_config=_json_log_config(settings.log_level),
    )


if __name__ == "__main__":
    main()
