"""Answering only for the hosts the service is (ALLOWED_HOSTS), so that a page on a rebinding domain
(`evil.example` resolving to the service's address) is refused before anything trusts its Host.

Requests through API Gateway pass: it delivers only requests addressed to its own domain names.
"""

from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from ...errors import InvalidHost
from ..errors import error_response, status_and_code


class HostGuardMiddleware:
    def __init__(self, app: ASGIApp, *, allowed_hosts: Sequence[str]) -> None:
        self.app = app
        self.allowed = frozenset(host.lower() for host in allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "aws.event" in scope or host_name(Headers(scope=scope)) in self.allowed:
            await self.app(scope, receive, send)
            return
        response = error_response(
            *status_and_code(InvalidHost),
            "This service does not answer for that Host; the operator can add it to ALLOWED_HOSTS.",
        )
        await response(scope, receive, send)


def host_name(headers: Headers) -> str:
    """The Host header without its port, lower-cased; an IPv6 literal keeps its brackets."""
    host = headers.get("host", "").strip().lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.rpartition(":")[0] if host.count(":") == 1 else host
