"""Counts each crop request by its answer: every outcome of the two crop routes, whichever layer decided it
(the body guard, validation, the rate limit, the crop itself)."""

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...metrics import CropKind, ServiceMetrics

_CROP_ROUTES: dict[str, CropKind] = {"/images/manual-crop": "manual", "/images/smart-crop": "smart"}


class CropMetricsMiddleware:
    """A manual crop ends with its answer; an accepted smart crop is counted by its job when it ends (the
    worker, or the deadline). Replayed Idempotency-Key answers were counted the first time."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = _crop_kind(scope)
        if kind is None:
            await self.app(scope, receive, send)
            return
        status, replayed = 500, False

        async def observe(message: Message) -> None:
            nonlocal status, replayed
            if message["type"] == "http.response.start":
                status = message["status"]
                replayed = "idempotent-replayed" in Headers(raw=message.get("headers", []))
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            if not replayed:
                self._count(kind, status)

    def _count(self, kind: CropKind, status: int) -> None:
        if status == 429:
            self.metrics.rate_limit_refused(kind)
        if status >= 500:
            self.metrics.crop_ended(kind, "failed")
        elif status >= 400:
            self.metrics.crop_ended(kind, "rejected")
        elif kind == "manual":
            self.metrics.crop_ended(kind, "succeeded")


def _crop_kind(scope: Scope) -> CropKind | None:
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path: str = scope["path"]
    return _CROP_ROUTES.get(path.removeprefix(scope.get("root_path", "")).rstrip("/") or "/")
