"""Pure ASGI middleware: request ids with one access-log line each, and the headers every response carries."""

import re
import time
import uuid
from typing import Any

from aws_lambda_powertools import Logger
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...observability import SERVICE_NAME
from ..errors import NO_STORE, SAFETY_HEADERS, error_code
from ..gateway import gateway_context

logger = Logger(service=SERVICE_NAME, child=True)

_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,128}")


class RequestContextMiddleware:
    """Gives each request an id of the service's own (API Gateway's request id on Lambda, else a new one)
    and logs one line per request. A client's X-Request-ID is logged beside it, never adopted: an id a
    client chooses could collide with, or impersonate, another request's in the logs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        client_request_id = _client_request_id(scope)
        # Context-local keys: every log line of this request (threads included) carries its id.
        logger.thread_safe_append_keys(request_id=request_id)
        if client_request_id is not None:
            logger.thread_safe_append_keys(client_request_id=client_request_id)
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
            line: dict[str, Any] = {
                "request_id": request_id,
                "method": scope["method"],
                "path": redacted_path(scope["path"]),
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "client_ip": scope.get("state", {}).get("client_ip") or _peer(scope),
            }
            if client_request_id is not None:
                line["client_request_id"] = client_request_id
            code = error_code(scope)
            if code is not None:
                line["code"] = code
            logger.info("request", extra=line)
            logger.thread_safe_remove_keys(["request_id", "client_request_id", "client_ip"])


class ResponseHeadersMiddleware:
    """`X-Content-Type-Options: nosniff` on every response, and `Cache-Control: no-store` on every error."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.update(SAFETY_HEADERS)
                if message["status"] >= 400:
                    headers.update(NO_STORE)
            await send(message)

        await self.app(scope, receive, send_with_headers)


_UPLOAD_PATH_RE = re.compile(r"/uploads/[^/]+")


def redacted_path(path: str) -> str:
    """The path without a direct upload's id: the id and its signed URL are what lets anyone send that upload."""
    return _UPLOAD_PATH_RE.sub("/uploads/{upload_id}", path)


def _request_id(scope: Scope) -> str:
    lambda_request_id = gateway_context(scope).get("requestId")
    if isinstance(lambda_request_id, str) and _REQUEST_ID_RE.fullmatch(lambda_request_id):
        return lambda_request_id
    return uuid.uuid4().hex


def _client_request_id(scope: Scope) -> str | None:
    """The client's X-Request-ID when it is a plain token; anything else is not worth a log field."""
    supplied = Headers(scope=scope).get("x-request-id", "")
    return supplied if _REQUEST_ID_RE.fullmatch(supplied) else None


def _peer(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None
