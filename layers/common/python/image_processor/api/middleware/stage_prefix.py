"""The API Gateway stage or base path as the ASGI root_path, so links and /docs keep it.

The route inside the API is the event's `resource` with its path parameters filled in (`/{proxy+}`
with `proxy=images/x` is `/images/x`). What the client asked for, `requestContext.path`, is the
route behind a prefix, which depends on how the client came in:

- on the execute-api host: `requestContext.path` is `/v1/images/x`, and `path` is the route;
- on a custom domain mapped with a base path: both `path` and `requestContext.path` are
  `/shop/images/x` (API Gateway strips the stage but keeps the base path, even in `path`);
- on a custom domain without a base path: both are the route, and the prefix is empty.

Mangum 0.22 routes on `path` and always sets `root_path` to "" (its `api_gateway_base_path` only
strips a fixed prefix), hence this: the prefix becomes `root_path`, and `path` holds it once.
"""

import re
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from ..gateway import gateway_context, gateway_event

_PARAMETER = re.compile(r"\{([^{}+]+)\+?\}")


class StagePrefixMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        prefix, included = _prefix(scope) if scope["type"] == "http" else ("", False)
        if prefix and not scope.get("root_path"):
            route = scope["path"][len(prefix) :] if included else scope["path"]
            # ASGI: `path` includes `root_path`; Starlette's router strips it again.
            scope = {**scope, "root_path": prefix, "path": prefix + (route or "/")}
        await self.app(scope, receive, send)


def _prefix(scope: Scope) -> tuple[str, bool]:
    """The prefix the client's URL puts before the route, and whether the event's `path` holds it already."""
    event = gateway_event(scope)
    requested, routed = gateway_context(scope).get("path"), event.get("path")
    if not isinstance(requested, str) or not isinstance(routed, str) or not routed.startswith("/"):
        return "", False
    route = _route(event) or routed
    if routed == route:
        candidate, included = _without(requested, route), False
    elif requested == routed:
        candidate, included = _without(routed, route), True
    else:
        return "", False
    # A stage or base-path mapping is plain path segments; anything else is not trusted as a prefix.
    if candidate and candidate.startswith("/") and all(s and s not in {".", ".."} for s in candidate[1:].split("/")):
        return candidate, included
    return "", False


def _route(event: dict[str, Any]) -> str | None:
    """The path inside the API: the matched resource with its path parameters filled in."""
    resource, parameters = event.get("resource"), event.get("pathParameters") or {}
    if not isinstance(resource, str) or not resource.startswith("/"):
        return None
    try:
        return _PARAMETER.sub(lambda match: str(parameters[match.group(1)]), resource)
    except KeyError:
        return None


def _without(path: str, route: str) -> str | None:
    """`path` minus the route at its end (None if it does not end with it); the root route takes a trailing slash."""
    if route == "/":
        return path.rstrip("/")
    return path[: len(path) - len(route)] if path.endswith(route) else None
