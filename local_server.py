"""Serve the API with uvicorn for local development and the container image."""

import asyncio
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

import h11
import uvicorn
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from pydantic import Field
from pydantic_settings import BaseSettings
from uvicorn.protocols.http.h11_impl import H11Protocol

from image_processor.admission.client_ip import is_trusted_proxy
from image_processor.api import create_app
from image_processor.assembly import build_services
from image_processor.observability import SERVICE_NAME
from image_processor.settings import IPNetwork, get_settings


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


class _HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol plus the deadline on request headers it lacks (without it, a client that
    sends a header byte now and then holds its connection for as long as it likes), and a cap on the
    connections one address holds, so that a few clients cannot fill LIMIT_CONCURRENCY for everyone."""

    header_read_timeout_seconds: ClassVar[float] = 10.0
    connections_per_client: ClassVar[int] = 25
    exempt: ClassVar[tuple[IPNetwork, ...]] = ()
    open_by_peer: ClassVar[Counter[str]] = Counter()  # each server's class gets its own (see _guarded_protocol)
    _header_deadline: asyncio.TimerHandle | None = None
    _counted_peer: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        peer = self.client[0] if self.client else None
        if peer is not None and not is_trusted_proxy(peer, self.exempt):
            self._counted_peer = peer
            self.open_by_peer[peer] += 1
            if self.open_by_peer[peer] > self.connections_per_client:
                transport.close()
                return
        self._arm_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
        if self._counted_peer is not None:
            self.open_by_peer[self._counted_peer] -= 1
            if self.open_by_peer[self._counted_peer] <= 0:
                del self.open_by_peer[self._counted_peer]
            self._counted_peer = None
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
        self._header_deadline = self.loop.call_later(self.header_read_timeout_seconds, self._headers_overdue)

    def _headers_overdue(self) -> None:
        # IDLE: h11 is still waiting for (the rest of) a request's headers.
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def _guarded_protocol(server: ServerSettings, exempt: Sequence[IPNetwork]) -> type[H11Protocol]:
    """The protocol class for one server: its own deadline, cap and count of connections per address."""
    fields = {
        "header_read_timeout_seconds": server.header_read_timeout_seconds,
        "connections_per_client": server.connections_per_client,
        "exempt": tuple(exempt),
        "open_by_peer": Counter[str](),
    }
    return type("GuardedProtocol", (_HeaderDeadlineProtocol,), fields)


def main() -> None:
    settings = get_settings()
    server = ServerSettings()
    services = build_services(settings)
    uvicorn.run(
        create_app(services),
        host=server.host,
        port=server.port,
        # The app resolves the client address itself (TRUSTED_PROXIES); uvicorn must not rewrite it.
        proxy_headers=False,
        server_header=False,
        http=_guarded_protocol(server, settings.trusted_proxies),
        limit_concurrency=server.limit_concurrency,
        timeout_keep_alive=server.keep_alive_timeout_seconds,
        h11_max_incomplete_event_size=_MAX_HEADER_BYTES,
        access_log=False,
        log_config=_json_log_config(settings.log_level),
    )


if __name__ == "__main__":
    main()
