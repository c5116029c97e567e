"""Refusing requests that web pages of other origins make their visitors' browsers send.

A multipart POST is a CORS "simple" request: a browser sends it cross-site without asking first,
so CORS headers alone cannot stop it. Browsers put the page's origin in `Origin`; a POST from a page
that is neither the service's own (PUBLIC_BASE_URL) nor allowed (CORS_ALLOWED_ORIGINS) is refused here, before any
dependency reads the body or spends a quota slot. Requests without `Origin` (curl, servers) pass.
"""

from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from ...admission.client_ip import is_trusted_proxy
from ...errors import OriginNotAllowed
from ...settings import IPNetwork
from ...urls import normalise_origin
from ..errors import error_response, status_and_code

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class OriginGuardMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_origins: Sequence[str],
        trusted_proxies: Sequence[IPNetwork],
        public_origin: str | None = None,
    ) -> None:
        self.app = app
        self.allowed = frozenset(allowed_origins)
        self.trusted_proxies = list(trusted_proxies)
        self.public_origin = public_origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        normalised = normalise_origin(origin)
        if normalised is not None and (normalised in self.allowed or normalised == self._own_origin(scope, headers)):
            await self.app(scope, receive, send)
            return
        response = error_response(
            *status_and_code(OriginNotAllowed),
            "Requests from web pages of this origin are not allowed; the operator can add it to CORS_ALLOWED_ORIGINS.",
        )
        await response(scope, receive, send)

    def _own_origin(self, scope: Scope, headers: Headers) -> str | None:
        """PUBLIC_BASE_URL when it is set, and then never the Host header. Unset, the scheme and host the browser
        used (a trusted proxy may have ended TLS): the host guard has already refused a Host outside
        ALLOWED_HOSTS, and API Gateway delivers only requests for its own domains."""
        if self.public_origin is not None:
            return self.public_origin
        host = headers.get("host")
        if not host:
            return None
        scheme = str(scope.get("scheme", "http"))
        forwarded_proto = headers.get("x-forwarded-proto")
        client = scope.get("client")
        if forwarded_proto and client and is_trusted_proxy(str(client[0]), self.trusted_proxies):
            scheme = forwarded_proto.split(",")[-1].strip()  # the scheme the nearest (trusted) proxy was reached by
        return normalise_origin(f"{scheme}://{host}")
