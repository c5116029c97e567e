"""Pure ASGI middleware: a cap on request bodies, and request ids with one access-log line each."""

import re
import time
import uuid
from typing import Any

from aws_lambda_powertools import Logger
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import PayloadTooLarge
from ..observability import SERVICE_NAME
from .errors import error_response

logger = Logger(service=SERVICE_NAME, child=True)

_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,128}")


class BodySizeLimitMiddleware:
    """Refuses a body over `max_body_bytes` from its Content-Length, or while it streams in."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            response = error_response(413, PayloadTooLarge.code, self._message())
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise PayloadTooLarge(self._message())
            return message

        await self.app(scope, limited_receive, send)

    def _message(self) -> str:
        return f"The request body is larger than the {self.max_body_bytes} bytes allowed."


class RequestContextMiddleware:
    """Gives each request an id (X-Request-ID, API Gateway's request id, or a new one) and logs it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        # Context-local keys: every log line of this request (threads included) carries its id.
        logger.thread_safe_append_keys(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            logger.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "client_ip": scope.get("state", {}).get("client_ip") or _peer(scope),
                },
            )
            logger.thread_safe_remove_keys(["request_id", "client_ip"])


def _request_id(scope: Scope) -> str:
    supplied = Headers(scope=scope).get("x-request-id", "")
    if _REQUEST_ID_RE.fullmatch(supplied):
        return supplied
    event: dict[str, Any] = scope.get("aws.event") or {}
    lambda_request_id = (event.get("requestContext") or {}).get("requestId")
    if isinstance(lambda_request_id, str) and _REQUEST_ID_RE.fullmatch(lambda_request_id):
        return lambda_request_id
    return uuid.uuid4().hex


def _peer(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None
