"""Slow clients on real sockets: each sends its headers and part of an upload, then a few bytes a second."""

import contextlib
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

BOUNDARY = "trickle"


@dataclass
class Trickler:
    sock: socket.socket
    opened_at: float
    closed_at: float | None = None
    response: bytes = b""

    @property
    def status(self) -> int | None:
        """The status the server answered with, if it answered before closing."""
        if not self.response.startswith(b"HTTP/1.1 "):
            return None
        return int(self.response[9:12])


@dataclass
class HealthProbe:
    latencies: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)


def open_tricklers(url: str, count: int, *, declared_bytes: int, sent_bytes: int) -> list[Trickler]:
    """`count` multipart uploads to /images/manual-crop declaring `declared_bytes`, each stopped after `sent_bytes`."""
    parts = urlsplit(url)
    head = (
        f"POST /images/manual-crop HTTP/1.1\r\nHost: {parts.hostname}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {declared_bytes}\r\n\r\n"
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="source_image"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    body = b"\xff" * (sent_bytes - len(head))
    tricklers = []
    for _ in range(count):
        sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=10)
        sock.sendall(head + body)
        sock.setblocking(False)
        tricklers.append(Trickler(sock=sock, opened_at=time.monotonic()))
    return tricklers


def keep_trickling(tricklers: list[Trickler], *, until: float, bytes_per_second: int = 4) -> None:
    """Send a byte now and then on every open connection and read what the server answers, until every
    connection is closed or `until` (a time.monotonic() value) passes."""
    selector = selectors.DefaultSelector()
    for opened in still_open(tricklers):
        selector.register(opened.sock, selectors.EVENT_READ, opened)
    interval = 1 / bytes_per_second
    next_send = time.monotonic()
    while selector.get_map() and time.monotonic() < until:
        for key, _ in selector.select(timeout=0.05):
            trickler = key.data
            try:
                chunk = trickler.sock.recv(65536)
            except ConnectionError:
                chunk = b""
            trickler.response += chunk
            if not chunk:
                _closed(selector, trickler)
        if time.monotonic() >= next_send:
            next_send += interval
            for key in list(selector.get_map().values()):
                trickler = key.data
                if trickler.response:
                    continue  # answered: stop sending so the close is a clean one
                with contextlib.suppress(BlockingIOError, ConnectionError):
                    trickler.sock.send(b"\xff")
    selector.close()


def still_open(tricklers: list[Trickler]) -> list[Trickler]:
    return [trickler for trickler in tricklers if trickler.closed_at is None]


def close_all(tricklers: list[Trickler]) -> None:
    for trickler in still_open(tricklers):
        trickler.sock.close()


def _closed(selector: selectors.BaseSelector, trickler: Trickler) -> None:
    trickler.closed_at = time.monotonic()
    selector.unregister(trickler.sock)
    trickler.sock.close()


@contextlib.contextmanager
def probing_health(url: str, *, every: float = 0.1) -> Iterator[HealthProbe]:
    """GET /health on a fresh connection every `every` seconds, in a thread, while the block runs."""
    probe = HealthProbe()
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                status = httpx.get(f"{url}/health", timeout=10).status_code
            except httpx.HTTPError:
                status = 0
            probe.latencies.append(time.monotonic() - started)
            probe.statuses.append(status)
            stop.wait(every)

    thread = threading.Thread(target=run, name="health-probe", daemon=True)
    thread.start()
    try:
        yield probe
    finally:
        stop.set()
        thread.join(timeout=15)
