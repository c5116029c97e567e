"""Two protections uvicorn's HTTP/1.1 server lacks (uvicorn only; on Lambda API Gateway holds the connections).

- A deadline on request headers: without it a client that sends a header byte now and then holds its
  connection for as long as it likes (uvicorn's keep-alive timer stops at the first byte).
- A cap on the connections one address holds, so that a few clients cannot fill LIMIT_CONCURRENCY.

Built on public interfaces only. uvicorn's `http=` setting takes any asyncio protocol class: `protocol`
wraps uvicorn's own in one that sees each connection open and close. The ASGI app wrapped by `app`
learns when a request's headers are complete (uvicorn calls the app) and when it is done, and finds its
connection by the request's client address and port, which are unique among open TCP connections.
"""

import asyncio
from collections import Counter
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..admission.client_ip import is_trusted_proxy
from ..settings import IPNetwork

type _Peer = tuple[str, int]


class _Connection:
    """One open connection: the timer that closes it, armed while no request of it is in the app."""

    def __init__(self, transport: asyncio.BaseTransport, timeout_seconds: float) -> None:
        self._transport = transport
        self._timeout_seconds = timeout_seconds
        self._in_app = 0
        self._deadline: asyncio.TimerHandle | None = None

    def arm(self) -> None:
        self.disarm()
        self._deadline = asyncio.get_running_loop().call_later(self._timeout_seconds, self._transport.close)

    def disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def request_started(self) -> None:
        self._in_app += 1
        self.disarm()

    def request_finished(self) -> None:
        self._in_app -= 1
        if self._in_app == 0 and not self._transport.is_closing():
            self.arm()


class ConnectionGuard:
    """The guard of one server: its connections by peer, and how many each address holds."""

    def __init__(
        self, *, header_read_timeout_seconds: float, connections_per_client: int, exempt: Sequence[IPNetwork] = ()
    ) -> None:
        self.header_read_timeout_seconds = header_read_timeout_seconds
        self.connections_per_client = connections_per_client
        self._exempt = tuple(exempt)
        self._connections: dict[_Peer, _Connection] = {}
        self._open_by_address: Counter[str] = Counter()

    def opened(self, transport: asyncio.BaseTransport) -> _Peer | None:
        """Counts the connection, or closes it if its address holds too many. Its peer, if it is TCP."""
        peername = transport.get_extra_info("peername")
        if not isinstance(peername, tuple):
            return None
        peer: _Peer = (str(peername[0]), int(peername[1]))
        self._connections[peer] = connection = _Connection(transport, self.header_read_timeout_seconds)
        connection.arm()
        address = peer[0]
        if not is_trusted_proxy(address, self._exempt):
            self._open_by_address[address] += 1
            if self._open_by_address[address] > self.connections_per_client:
                transport.close()
        return peer

    def closed(self, peer: _Peer) -> None:
        connection = self._connections.pop(peer, None)
        if connection is not None:
            connection.disarm()
        address = peer[0]
        if address in self._open_by_address:
            self._open_by_address[address] -= 1
            if self._open_by_address[address] <= 0:
                del self._open_by_address[address]

    def protocol(self, inner: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
        """The class for uvicorn's `http=` setting: `inner` (one of uvicorn's own) behind this guard."""
        return _guarded(inner, self)

    def app(self, app: ASGIApp) -> ASGIApp:
        """`app`, telling the guard when each request reaches it and when it is done."""

        async def guarded_app(scope: Scope, receive: Receive, send: Send) -> None:
            client = scope.get("client") if scope["type"] == "http" else None
            connection = self._connections.get((client[0], client[1])) if client else None
            if connection is None:
                await app(scope, receive, send)
                return
            connection.request_started()
            finished = False

            def finish() -> None:
                nonlocal finished
                if not finished:
                    finished = True
                    connection.request_finished()

            async def send_and_watch(message: Message) -> None:
                await send(message)
                # Past the response the connection may carry the next request: its headers are due.
                if message["type"] == "http.response.body" and not message.get("more_body", False):
                    finish()

            try:
                await app(scope, receive, send_and_watch)
            finally:
                finish()

        return guarded_app


def _guarded(inner: type[asyncio.Protocol], guard: ConnectionGuard) -> type[asyncio.Protocol]:
    class GuardedProtocol(asyncio.Protocol):
        """uvicorn's protocol, made with the arguments uvicorn passes, sent every event asyncio sends."""

        def __init__(self, **kwargs: Any) -> None:
            self._inner = inner(**kwargs)
            self._peer: _Peer | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self._inner.connection_made(transport)
            self._peer = guard.opened(transport)

        def data_received(self, data: bytes) -> None:
            self._inner.data_received(data)

        def eof_received(self) -> bool | None:
            return self._inner.eof_received()

        def pause_writing(self) -> None:
            self._inner.pause_writing()

        def resume_writing(self) -> None:
            self._inner.resume_writing()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._peer is not None:
                guard.closed(self._peer)
            self._inner.connection_lost(exc)

    return GuardedProtocol
