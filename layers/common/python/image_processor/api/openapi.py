"""What the OpenAPI schema says beyond the routes' own declarations: operation ids and response headers."""

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute


def route_name(route: APIRoute) -> str:
    """Operation ids are the handlers' names (`create_manual_crop`), so generated clients read well."""
    return route.name


def _header(description: str, schema_type: str = "string") -> dict[str, Any]:
    return {"description": description, "schema": {"type": schema_type}}


LOCATION = {"Location": _header("The job's status URL, /jobs/{image_id}")}
RATE_LIMIT = {
    "RateLimit-Limit": _header("Smart crops allowed per window for this client", "integer"),
    "RateLimit-Remaining": _header("Smart crops left in the current window", "integer"),
    "RateLimit-Reset": _header("Seconds until the window frees a request", "integer"),
}


def rate_limit_headers(*, limit: int, remaining: int, reset_seconds: int) -> dict[str, str]:
    """The RATE_LIMIT headers' values, on an accepted request and on a refusal alike."""
    return {"RateLimit-Limit": str(limit), "RateLimit-Remaining": str(remaining), "RateLimit-Reset": str(reset_seconds)}


RETRY_AFTER = {"Retry-After": _header("Seconds to wait before retrying", "integer")}
ETAG = {"ETag": _header("Strong validator of the image; send it back in If-None-Match")}
_REQUEST_ID = {
    "X-Request-ID": _header("The service's id for this request, as in its logs; quote it when reporting a problem")
}


def with_common_headers(app: FastAPI) -> None:
    """Declare X-Request-ID on every response of every operation, as the middleware sends it."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for operations in schema["paths"].values():
                for operation in operations.values():
                    for response in operation["responses"].values():
                        response.setdefault("headers", {}).update(_REQUEST_ID)
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]
