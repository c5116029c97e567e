"""The header deadline and the per-address connection cap (api/connection_guard.py), on a real uvicorn in-process.

Slow clients against the whole service are in tests/stress/test_slow_clients.py; these run in a second.
"""

import asyncio
import ipaddress
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from image_processor.api.connection_guard import ConnectionGuard

DEADLINE = 0.3
# A connection the server closed reads as EOF (or a reset) well within this; one left open does not.
WAIT = 5.0
REQUEST = b"GET /%s HTTP/1.1\r\nHost: x\r\n\r\n"


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """`/slow` answers after three deadlines; anything else at once."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(DEADLINE * 3)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@asynccontextmanager
async def serving(guard: ConnectionGuard) -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        guard.app(app), http=guard.protocol(H11Protocol), ws="none", lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await eventually(lambda: server.started)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task


async def eventually(condition: Callable[[], bool], *, deadline_seconds: float = 15) -> None:
    deadline = time.monotonic() + deadline_seconds
    while not condition():
        assert time.monotonic() < deadline, "not there in time"
        await asyncio.sleep(0.01)


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    try:
        while await asyncio.wait_for(reader.read(1024), WAIT):
            pass
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


async def response_of(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    return head + await asyncio.wait_for(reader.readexactly(2), WAIT)


async def served(port: int) -> bool:
    """Whether a new connection gets an answer (False: the server closed it at once)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(REQUEST % b"")
    try:
        return (await response_of(reader)).endswith(b"ok")
    except (asyncio.IncompleteReadError, ConnectionError):
        return False
    finally:
        writer.close()


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 30))


def guard(**overrides: object) -> ConnectionGuard:
    settings: dict[str, object] = {"header_read_timeout_seconds": DEADLINE, "connections_per_client": 10}
    return ConnectionGuard(**{**settings, **overrides})  # type: ignore[arg-type]


def test_headers_never_finished_lose_the_connection_at_the_deadline() -> None:
    async def test() -> None:
        async with serving(guard()) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
            assert await closed_by_server(reader)
            writer.close()

    run(test)


def test_the_deadline_starts_again_after_each_response() -> None:
    """A keep-alive connection that trickles its second request's headers is closed too (uvicorn's own
    keep-alive timer stops at the first byte)."""

    async def test() -> None:
        async with serving(guard()) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(REQUEST % b"")
            assert (await response_of(reader)).startswith(b"HTTP/1.1 200")
            writer.write(b"GET / HTTP/1.1\r\n")
            assert await closed_by_server(reader)
            writer.close()

    run(test)


def test_a_request_in_the_app_outlives_the_deadline_and_keeps_its_connection() -> None:
    async def test() -> None:
        async with serving(guard()) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for path in (b"slow", b"slow", b""):
                writer.write(REQUEST % path)
                assert (await response_of(reader)).endswith(b"ok")
            writer.close()

    run(test)


def test_one_address_holds_at_most_its_share_of_connections_and_gets_them_back() -> None:
    async def test() -> None:
        the_guard = guard(connections_per_client=2)
        async with serving(the_guard) as port:
            kept = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
            refused_reader, refused_writer = await asyncio.open_connection("127.0.0.1", port)
            assert await closed_by_server(refused_reader)
            refused_writer.close()
            for reader, writer in kept:
                writer.write(REQUEST % b"")
                assert (await response_of(reader)).endswith(b"ok")
                writer.close()
                await writer.wait_closed()
            # The server learns of the closes a moment later; from then on the address is served again.
            deadline = time.monotonic() + 15
            while not await served(port):
                assert time.monotonic() < deadline, "the address never got its connections back"

    run(test)


def test_a_trusted_proxy_is_not_capped() -> None:
    async def test() -> None:
        exempt = [ipaddress.ip_network("127.0.0.0/8")]
        async with serving(guard(connections_per_client=1, exempt=exempt)) as port:
            connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
            for reader, writer in connections:
                writer.write(REQUEST % b"")
                assert (await response_of(reader)).endswith(b"ok")
                writer.close()

    run(test)
