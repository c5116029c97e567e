"""The API Gateway stage as the ASGI root_path, so links and /docs keep `/v1` under execute-api.

Under API Gateway REST, `requestContext.path` is the path the client asked for (`/v1/images/x`)
and the event's `path` lacks the stage (`/images/x`); the difference is the prefix. On a custom
domain without a base path both are equal and the prefix is empty. Mangum 0.22 always sets
`root_path` to "" (its `api_gateway_base_path` only strips a prefix from `path`), hence this.
"""

from starlette.types import ASGIApp, Receive, Scope, Send

from ..gateway import gateway_context, gateway_event


class StagePrefixMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        prefix = _prefix(scope) if scope["type"] == "http" else ""
        if prefix and not scope.get("root_path"):
            # ASGI: `path` includes `root_path`; Starlette's router strips it again.
            scope = {**scope, "root_path": prefix, "path": prefix + scope["path"]}
        await self.app(scope, receive, send)


def _prefix(scope: Scope) -> str:
    requested, routed = gateway_context(scope).get("path"), gateway_event(scope).get("path")
    if not isinstance(requested, str) or not isinstance(routed, str) or not routed.startswith("/"):
        return ""
    if routed == "/" and requested.rstrip("/") != "":
        candidate = requested.rstrip("/")
    elif requested.endswith(routed):
        candidate = requested[: len(requested) - len(routed)]
    else:
        return ""
    # A stage or base-path mapping is plain path segments; anything else is not trusted as a prefix.
    if candidate and all(segment and segment not in {".", ".."} for segment in candidate[1:].split("/")):
        return candidate if candidate.startswith("/") else ""
    return ""
