"""One JSON error shape, {"error": {"code", "message", "field"?}}, for every 4xx and 5xx."""

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import RateLimited, ServiceError
from ..models import ErrorBody
from ..observability import SERVICE_NAME

logger = Logger(service=SERVICE_NAME, child=True)

_DESCRIPTIONS = {
    400: "Malformed multipart body",
    404: "No such resource (for source_upload_id: unknown, or used already)",
    410: "The direct upload (or its form) has expired",
    413: "Upload larger than MAX_UPLOAD_BYTES",
    415: "Not multipart/form-data, or not a supported image format",
    422: "A field is missing, malformed or out of range; `field` names it",
    429: "Rate limit exceeded; see Retry-After",
    503: "A dependency (DynamoDB, the job queue) is unavailable; retry later",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The listed statuses plus `default`: any other error (a 500 included) has the same shape.

    The `default` entry also stops FastAPI from documenting its own 422 body, which this app never sends.
    """
    responses: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorBody, "description": _DESCRIPTIONS[status]} for status in statuses
    }
    responses["default"] = {"model": ErrorBody, "description": "Any other error, in the same shape"}
    return responses


def error_response(
    status: int, code: str, message: str, *, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    detail: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        detail["field"] = field
    return JSONResponse({"error": detail}, status_code=status, headers=headers)


def _status_code_name(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    headers = None
    if isinstance(exc, RateLimited):
        headers = {
            "Retry-After": str(exc.retry_after_seconds),
            "RateLimit-Limit": str(exc.limit),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(exc.retry_after_seconds),
        }
    if exc.status_code >= 500:
        logger.warning("request failed", extra={"code": exc.code, "reason": exc.message})
    return error_response(exc.status_code, exc.code, exc.message, field=exc.field, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    location = [str(part) for part in first.get("loc", ()) if part not in {"body", "query", "path", "header"}]
    field = ".".join(location) or None
    message = f"{field}: {first['msg']}" if field else str(first["msg"])
    return error_response(422, "invalid_request", message, field=field)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return error_response(
        exc.status_code, _status_code_name(exc.status_code), message, headers=dict(exc.headers or {}) or None
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", extra={"path": request.url.path})
    return error_response(500, "internal_error", "An unexpected error occurred; it has been logged.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
