"""Request bodies: one size cap, a byte budget for the bodies held across the process, and a read deadline.

uvicorn (h11) has no read timeout of its own, so without the deadline a client that sends its headers
and then a byte a second holds a connection, a task and its partial body for as long as it likes.
"""

import math
from collections.abc import Sequence

import anyio
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...admission.client_ip import client_address
from ...errors import LengthRequired, PayloadTooLarge, RequestTimeout, ServerBusy, ServiceError
from ...settings import IPNetwork
from ..errors import send_error

# The multipart framing around the file: boundaries, part headers and the JSON text fields.
MULTIPART_OVERHEAD_BYTES = 256 * 1024
_BUSY_RETRY_AFTER_SECONDS = 2
CLIENT_SHARE = 0.25


class UploadBudget:
    """Bytes of request bodies received and not yet finished, in all and per client address; one address may
    hold at most `client_bytes` (by default a quarter of the whole), so a few connections cannot take all
    of it. Used from the event loop only, so no lock."""

    def __init__(self, capacity_bytes: int, *, client_bytes: int | None = None, client_minimum_bytes: int = 0) -> None:
        self.capacity_bytes = capacity_bytes
        # Never less than one whole upload, so that any client can always send one.
        share = client_bytes if client_bytes is not None else int(capacity_bytes * CLIENT_SHARE)
        self.client_capacity_bytes = max(share, client_minimum_bytes, 1)
        self.in_use_bytes = 0
        self._by_client: dict[str, int] = {}

    def try_reserve(self, size: int, client: str = "") -> bool:
        held = self._by_client.get(client, 0)
        if self.in_use_bytes + size > self.capacity_bytes or held + size > self.client_capacity_bytes:
            return False
        self.in_use_bytes += size
        self._by_client[client] = held + size
        return True

    def release(self, size: int, client: str = "") -> None:
        self.in_use_bytes -= size
        left = self._by_client.get(client, 0) - size
        if left > 0:
            self._by_client[client] = left
        else:
            self._by_client.pop(client, None)


class RequestBodyGuard:
    """Refuses a body without Content-Length (411) or over MAX_UPLOAD_BYTES (plus the multipart framing),
    reserves its bytes in the budget as they arrive (per client address too), and ends reading at a deadline.

    A response sent before the body was read whole closes the connection: otherwise a client still
    trickling the rest would keep it open, every byte it sends resetting uvicorn's keep-alive timer.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_upload_bytes: int,
        budget: UploadBudget,
        read_timeout_seconds: float,
        trusted_proxies: Sequence[IPNetwork] = (),
    ) -> None:
        self.app = app
        self.trusted_proxies = list(trusted_proxies)
        self.max_upload_bytes = max_upload_bytes
        self.max_body_bytes = max_upload_bytes + MULTIPART_OVERHEAD_BYTES
        self.budget = budget
        self.read_timeout_seconds = read_timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = _content_length(headers)
        if "transfer-encoding" in headers and "aws.event" not in scope:
            # A chunked body costs the event loop per chunk, and 1-byte chunks make that ruinous. Browsers,
            # curl, httpx and S3-style forms all send Content-Length (a request with neither has no body;
            # API Gateway buffers the body before Lambda sees it).
            await send_error(scope, send, LengthRequired("Send the body with a Content-Length header."), close=True)
            return
        if declared is not None and declared > self.max_body_bytes:
            await send_error(scope, send, PayloadTooLarge.for_limit(self.max_upload_bytes), close=True)
            return
        client = self._client(scope, headers)
        reserved = 0  # reserved as bytes arrive, so a connection that declares much and sends nothing holds nothing
        received = 0
        body_complete = declared == 0
        deadline = anyio.current_time() + self.read_timeout_seconds

        async def guarded_receive() -> Message:
            nonlocal reserved, received, body_complete
            if body_complete:
                message = await receive()
            else:
                with anyio.move_on_after(max(deadline - anyio.current_time(), 0)) as waiting:
                    message = await receive()
                if waiting.cancelled_caught:
                    raise RequestTimeout(
                        f"The request body was not received within {_seconds(self.read_timeout_seconds)} seconds."
                    )
            if message["type"] != "http.request":
                return message
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                raise PayloadTooLarge.for_limit(self.max_upload_bytes)
            if received > reserved:
                if not self.budget.try_reserve(received - reserved, client):
                    raise self._busy()
                reserved = received
            body_complete = body_complete or not message.get("more_body", False)
            return message

        async def send_closing_early(message: Message) -> None:
            if message["type"] == "http.response.start" and not body_complete:
                MutableHeaders(scope=message)["Connection"] = "close"
            await send(message)

        try:
            await self.app(scope, guarded_receive, send_closing_early)
        finally:
            self.budget.release(reserved, client)

    def _client(self, scope: Scope, headers: Headers) -> str:
        """The address a share of the budget is counted for: behind a trusted proxy, the client it names."""
        peer = scope.get("client")
        address = client_address(
            str(peer[0]) if peer else None, headers.getlist("x-forwarded-for"), self.trusted_proxies
        )
        return address or ""

    def _busy(self) -> ServiceError:
        return ServerBusy(
            "The server is receiving as many uploads as it can hold; retry shortly.",
            retry_after_seconds=_BUSY_RETRY_AFTER_SECONDS,
        )


def _content_length(headers: Headers) -> int | None:
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit():
        return int(declared)
    if "transfer-encoding" in headers:
        return None
    # No Content-Length and not chunked: HTTP/1.1 says there is no body.
    return 0 if declared is None else None


def _seconds(value: float) -> str:
    return str(int(value)) if math.isclose(value, round(value)) else f"{value:g}"
