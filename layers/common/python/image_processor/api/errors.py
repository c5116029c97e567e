"""One JSON error shape, {"error": {"code", "message", "field"?}}, for every 4xx and 5xx."""

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match
from starlette.types import Scope, Send

from ..errors import (
    AlreadyReceived,
    CropOutOfBounds,
    DependencyUnavailable,
    Forbidden,
    Gone,
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    ImageTooComplex,
    ImageTooLarge,
    InvalidHost,
    InvalidRequest,
    LengthRequired,
    MalformedRequest,
    NotFound,
    OriginNotAllowed,
    PayloadTooLarge,
    RateLimited,
    RequestTimeout,
    ServerBusy,
    ServiceError,
    Unauthorized,
    UnsupportedImage,
    UnsupportedMediaType,
)
from ..observability import SERVICE_NAME
from .openapi import RATE_LIMIT, RETRY_AFTER, rate_limit_headers
from .schemas import ErrorBody

logger = Logger(service=SERVICE_NAME, child=True)

_DESCRIPTIONS = {
    400: "Malformed multipart body, or a Host that is not in ALLOWED_HOSTS",
    401: "API keys are on (API_KEYS) and X-API-Key is missing or unknown",
    403: "Sent by a web page whose origin is not in CORS_ALLOWED_ORIGINS, or a DELETE to a service without API keys",
    404: "No such resource (for source_upload_id: unknown, or used already)",
    405: "Method not allowed; Allow lists the methods the path answers",
    408: "The request body did not arrive within BODY_READ_TIMEOUT_SECONDS",
    409: "A request with this Idempotency-Key is still running (retry shortly), or the upload was received already",
    410: "The direct upload (or its form) has expired",
    413: "Upload larger than MAX_UPLOAD_BYTES",
    415: "Not multipart/form-data, or not a supported image format",
    422: "A field is missing, malformed or out of range (`field` names it), or the Idempotency-Key was used "
    "for a different request",
    429: "Rate limit exceeded; see Retry-After",
    503: "Busy (the upload budget is full; see Retry-After), or DynamoDB or the job queue is unavailable",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The listed statuses plus `default`: any other error (a 500 included) has the same shape.

    The `default` entry also stops FastAPI from documenting its own 422 body, which this app never sends.
    """
    responses: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorBody, "description": _DESCRIPTIONS[status]} for status in statuses
    }
    if 429 in responses:
        responses[429]["headers"] = {**RETRY_AFTER, **RATE_LIMIT}
    if 503 in responses:
        responses[503]["headers"] = RETRY_AFTER
    responses["default"] = {"model": ErrorBody, "description": "Any other error, in the same shape"}
    return responses


# Each domain error's HTTP status and stable code, the one place the two meet (docs/api.md lists them).
STATUS_AND_CODE: dict[type[ServiceError], tuple[int, str]] = {
    MalformedRequest: (400, "bad_request"),
    InvalidHost: (400, "invalid_host"),
    Unauthorized: (401, "unauthorized"),
    Forbidden: (403, "forbidden"),
    OriginNotAllowed: (403, "origin_not_allowed"),
    NotFound: (404, "not_found"),
    RequestTimeout: (408, "request_timeout"),
    IdempotencyKeyInProgress: (409, "idempotency_key_in_progress"),
    AlreadyReceived: (409, "already_received"),
    Gone: (410, "gone"),
    LengthRequired: (411, "length_required"),
    PayloadTooLarge: (413, "payload_too_large"),
    UnsupportedImage: (415, "unsupported_image"),
    UnsupportedMediaType: (415, "unsupported_media_type"),
    InvalidRequest: (422, "invalid_request"),
    ImageTooLarge: (422, "image_too_large"),
    ImageTooComplex: (422, "image_too_complex"),
    CropOutOfBounds: (422, "crop_out_of_bounds"),
    IdempotencyKeyReused: (422, "idempotency_key_reused"),
    RateLimited: (429, "rate_limited"),
    ServiceError: (500, "internal_error"),
    DependencyUnavailable: (503, "service_unavailable"),
    ServerBusy: (503, "server_busy"),
}


def status_and_code(error: type[ServiceError] | ServiceError) -> tuple[int, str]:
    """The status and code of `error`'s class, or of the nearest class above it that has one."""
    cls = error if isinstance(error, type) else type(error)
    return next(STATUS_AND_CODE[base] for base in cls.__mro__ if base in STATUS_AND_CODE)


# Sent with every response; errors (and job states, see routes/jobs.py) are never stored by caches.
SAFETY_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}
NO_STORE = {"Cache-Control": "no-store"}
_ERROR_CODE_KEY = "error_code"


def error_response(
    status: int, code: str, message: str, *, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    detail: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        detail["field"] = field
    return JSONResponse({"error": detail}, status_code=status, headers=headers)


def error_code(scope: Scope) -> str | None:
    """The `code` of the error this request was answered with, for the access log."""
    code = scope.get("state", {}).get(_ERROR_CODE_KEY)
    return code if isinstance(code, str) else None


def _remember(scope: Scope, code: str) -> None:
    scope.setdefault("state", {})[_ERROR_CODE_KEY] = code


async def send_error(scope: Scope, send: Send, exc: ServiceError, *, close: bool = False) -> None:
    """Answer from a middleware, before the app has run (so without its exception handlers)."""
    status, code = status_and_code(exc)
    _remember(scope, code)
    headers = _service_error_headers(exc)
    if close:
        headers["Connection"] = "close"
    response = error_response(status, code, exc.message, field=exc.field, headers=headers)

    async def no_body() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    await response(scope, no_body, send)


def _status_code_name(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def _service_error_headers(exc: ServiceError) -> dict[str, str]:
    if isinstance(exc, RateLimited):
        return {
            "Retry-After": str(exc.retry_after_seconds),
            **rate_limit_headers(limit=exc.limit, remaining=0, reset_seconds=exc.retry_after_seconds),
        }
    if isinstance(exc, ServerBusy):
        return {"Retry-After": str(exc.retry_after_seconds)}
    return {}


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    status, code = status_and_code(exc)
    _remember(request.scope, code)
    if status >= 500:
        logger.warning("request failed", extra={"code": code, "reason": exc.message})
    elif exc.details:
        # What the client is not told (a decoder's own message, say), for whoever reads the logs.
        logger.info("request refused", extra={"code": code, **exc.details})
    headers = _service_error_headers(exc) or None
    return error_response(status, code, exc.message, field=exc.field, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    location = [str(part) for part in first.get("loc", ()) if part not in {"body", "query", "path", "header"}]
    field = ".".join(location) or None
    message = f"{field}: {first['msg']}" if field else str(first["msg"])
    _remember(request.scope, "invalid_request")
    return error_response(422, "invalid_request", message, field=field)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    code = _status_code_name(exc.status_code)
    _remember(request.scope, code)
    return error_response(exc.status_code, code, message, headers=headers or None)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at this path. Starlette's own Allow names only the methods of the
    first route that matched the path, so GET and HEAD, declared as two routes, would show as one."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]


async def _client_disconnected(request: Request, exc: Exception) -> JSONResponse:
    # Nobody reads this answer; it only keeps a client that hung up mid-upload out of the error logs.
    logger.info("client disconnected before sending its whole body", extra={"path": request.url.path})
    _remember(request.scope, "client_disconnected")
    return error_response(400, "client_disconnected", "The client disconnected before sending the whole body.")


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # Starlette answers this one outside every middleware, so it adds the headers they would have.
    logger.exception("unhandled error", extra={"path": request.url.path})
    _remember(request.scope, "internal_error")
    headers = {**SAFETY_HEADERS, **NO_STORE}
    request_id = request.scope.get("state", {}).get("request_id")
    if isinstance(request_id, str):
        headers["X-Request-ID"] = request_id
    return error_response(500, "internal_error", "An unexpected error occurred; it has been logged.", headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ClientDisconnect, _client_disconnected)
    app.add_exception_handler(Exception, _unexpected_error)
