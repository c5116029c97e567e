"""The stage prefix comes from the API Gateway event: what the client asked for minus the route inside the API."""

from typing import Any

import pytest
from starlette.types import Message, Scope

from image_processor.api.middleware.stage_prefix import StagePrefixMiddleware


def event(requested: str, routed: str) -> dict[str, Any]:
    return {"path": routed, "requestContext": {"path": requested, "stage": "v1"}}


async def seen_scope(scope: Scope) -> Scope:
    seen: list[Scope] = []

    async def app(inner: Scope, receive: Any, send: Any) -> None:
        seen.append(inner)

    async def receive() -> Message:
        return {"type": "http.request"}

    async def send(message: Message) -> None:
        return None

    await StagePrefixMiddleware(app)(scope, receive, send)
    return seen[0]


@pytest.mark.parametrize(
    ("requested", "routed", "root_path"),
    [
        pytest.param("/v1/images/a/b.jpg", "/images/a/b.jpg", "/v1", id="stage"),
        pytest.param("/v1/", "/", "/v1", id="stage-root"),
        pytest.param("/images/a/b.jpg", "/images/a/b.jpg", "", id="custom-domain"),
        pytest.param("/shop/v2/jobs/x", "/jobs/x", "/shop/v2", id="base-path-mapping"),
        pytest.param("/other/thing", "/jobs/x", "", id="unrelated"),
        pytest.param("/../jobs/x", "/jobs/x", "", id="dot-dot"),
        pytest.param("v1/jobs/x", "/jobs/x", "", id="relative"),
    ],
)
@pytest.mark.anyio
async def test_the_root_path_is_the_prefix_the_client_used(requested: str, routed: str, root_path: str) -> None:
    scope = {"type": "http", "path": routed, "root_path": "", "aws.event": event(requested, routed)}

    inner = await seen_scope(scope)

    assert inner["root_path"] == root_path
    assert inner["path"] == root_path + routed


def mapped_event(base_path: str, route: str) -> dict[str, Any]:
    """A custom domain mapped with a base path: API Gateway strips the stage but keeps the base path in both
    `path` and `requestContext.path`; `resource` and `pathParameters` hold the route inside the API."""
    full = f"/{base_path}{route}" if base_path else route
    proxy = {"resource": "/{proxy+}", "pathParameters": {"proxy": route.lstrip("/")}} if route != "/" else {}
    return {
        "resource": "/",
        "pathParameters": None,
        **proxy,
        "path": full,
        "requestContext": {"path": full, "stage": "v1", "domainName": "images.example.com"},
    }


@pytest.mark.parametrize(
    ("base_path", "route", "root_path"),
    [
        pytest.param("shop", "/images/a/b.jpg", "/shop", id="base-path"),
        pytest.param("shop/eu", "/jobs/x", "/shop/eu", id="nested-base-path"),
        pytest.param("shop", "/", "/shop", id="base-path-root"),
        pytest.param("images", "/images/a/b.jpg", "/images", id="base-path-named-like-a-route"),
        pytest.param("", "/images/a/b.jpg", "", id="no-base-path"),
    ],
)
@pytest.mark.anyio
async def test_a_custom_domains_base_path_is_the_root_path(base_path: str, route: str, root_path: str) -> None:
    event = mapped_event(base_path, route)
    scope = {"type": "http", "path": event["path"], "root_path": "", "aws.event": event}

    inner = await seen_scope(scope)

    assert inner["root_path"] == root_path
    assert inner["path"] == root_path + route


@pytest.mark.anyio
async def test_without_an_event_nothing_changes() -> None:
    scope = {"type": "http", "path": "/images/a/b.jpg", "root_path": ""}
    assert await seen_scope(scope) == scope
