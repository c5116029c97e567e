"""What API Gateway said about a request: the event Mangum puts in the ASGI scope (`aws.event`); none under uvicorn."""

from typing import Any

from starlette.types import Scope


def gateway_event(scope: Scope) -> dict[str, Any]:
    event = scope.get("aws.event")
    return event if isinstance(event, dict) else {}


def gateway_context(scope: Scope) -> dict[str, Any]:
    """The event's `requestContext`: the request id, the stage path and the caller's identity."""
    context = gateway_event(scope).get("requestContext")
    return context if isinstance(context, dict) else {}
