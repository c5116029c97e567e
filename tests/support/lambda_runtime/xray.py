"""A stand-in for the X-Ray daemon: the segment documents a function's X-Ray SDK sends it over UDP."""

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_HEADER = '{"format": "json", "version": 1}'


class XRayDaemon:
    def __init__(self, sock: socket.socket) -> None:
        self._socket = sock
        self._documents: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="xray-daemon", daemon=True)

    @property
    def address(self) -> str:
        """AWS_XRAY_DAEMON_ADDRESS for a function that should send here."""
        host, port = self._socket.getsockname()
        return f"{host}:{port}"

    def documents(self) -> list[dict[str, Any]]:
        """Every (sub)segment received so far."""
        with self._lock:
            return list(self._documents)

    def _receive(self) -> None:
        while not self._stopping.is_set():
            try:
                datagram = self._socket.recv(65536)
            except TimeoutError:
                continue
            header, _, body = datagram.decode().partition("\n")
            if json.loads(header) == json.loads(_HEADER):
                with self._lock:
                    self._documents.append(json.loads(body))


@contextmanager
def xray_daemon() -> Iterator[XRayDaemon]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.2)
        daemon = XRayDaemon(sock)
        daemon._thread.start()
        try:
            yield daemon
        finally:
            daemon._stopping.set()
            daemon._thread.join(timeout=5)
