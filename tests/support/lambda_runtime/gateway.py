"""API Gateway (REST, Lambda proxy) in front of an execution environment, with the platform's payload limits.

moto neither runs the function nor enforces these, so the harness does, as AWS answers:
- a request body over API Gateway's 10 MB is refused before any gateway response applies: a 413 in
  plain text ("HTTP content length exceeded 10485760 bytes."), not in the service's shape;
- an event over Lambda's 6 MB invocation limit (a body of about 4.5 MB once base64-encoded) never
  reaches the function and gets the gateway response deployed for REQUEST_TOO_LARGE (413);
- an answer over 6 MB, or a function error, is a 502 (DEFAULT_5XX's response).
"""

import base64
import copy
import fnmatch
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from .deployment import GatewayResponse
from .sandbox import Invocation

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024
GATEWAY_PAYLOAD_LIMIT = 10 * 1024 * 1024
ASYNC_PAYLOAD_LIMIT = 256 * 1024
HOST = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
# API Gateway's own answers when no gateway response is configured for the type.
DEFAULT_GATEWAY_RESPONSES = {
    "REQUEST_TOO_LARGE": (413, "Request Too Long"),
    "DEFAULT_5XX": (502, "Internal server error"),
}


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    reached_function: bool
    detail: str = ""

    def describe(self) -> str:
        return f"{self.status} {self.body[:400]!r}" + (f"\n{self.detail}" if self.detail else "")

    def json(self) -> Any:
        return json.loads(self.body)


def rest_event(
    method: str,
    url: str,
    *,
    stage: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    binary_media_types: tuple[str, ...] = (),
    source_ip: str = "198.51.100.23",
) -> dict[str, Any]:
    """The event API Gateway sends for `method url` on the stage's execute-api host (a recorded event, re-addressed)."""
    event: dict[str, Any] = copy.deepcopy(json.loads((EVENTS_DIR / "manual_crop.json").read_text()))
    parts = urlsplit(url)
    path = parts.path
    all_headers = {
        "Accept": "*/*",
        "Host": HOST,
        "User-Agent": "lambda-harness/1",
        "X-Forwarded-For": source_ip,
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
        **({"Content-Length": str(len(body))} if body else {}),
        **(headers or {}),
    }
    query = parse_qsl(parts.query, keep_blank_values=True)
    multi_query: dict[str, list[str]] = {}
    for name, value in query:
        multi_query.setdefault(name, []).append(value)
    binary = bool(body) and _matches(all_headers.get("Content-Type", ""), binary_media_types)
    event.update(
        path=path,
        httpMethod=method,
        headers=all_headers,
        multiValueHeaders={name: [value] for name, value in all_headers.items()},
        queryStringParameters={name: values[-1] for name, values in multi_query.items()} or None,
        multiValueQueryStringParameters=multi_query or None,
        pathParameters={"proxy": path.lstrip("/")} if path != "/" else None,
        resource="/{proxy+}" if path != "/" else "/",
        body=(base64.b64encode(body).decode() if binary else body.decode("utf-8")) if body else None,
        isBase64Encoded=binary,
    )
    context = event["requestContext"]
    context.update(
        path=f"/{stage}{path}",
        stage=stage,
        httpMethod=method,
        requestId=str(uuid.uuid4()),
        resourcePath=event["resource"],
    )
    context["identity"]["sourceIp"] = source_ip
    context["identity"]["userAgent"] = all_headers["User-Agent"]
    return event


class Function(Protocol):
    invocations: list[Invocation]

    def invoke(self, event: dict[str, Any]) -> Invocation: ...


class Gateway:
    """Sends requests as events to the API function, and turns its answers back into HTTP responses."""

    def __init__(
        self,
        api: Function,
        *,
        stage: str,
        binary_media_types: tuple[str, ...],
        gateway_responses: dict[str, GatewayResponse],
    ) -> None:
        self.api = api
        self.stage = stage
        self.binary_media_types = binary_media_types
        self.gateway_responses = gateway_responses
        self.base_url = f"https://{HOST}/{stage}"

    def request(
        self, method: str, url: str, *, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> HttpResponse:
        """`url` is a path under the stage (`/images/...`) or a full link the API returned (`https://host/v1/...`)."""
        path = self.stage_path(url)
        if len(body) > GATEWAY_PAYLOAD_LIMIT:
            message = f"HTTP content length exceeded {GATEWAY_PAYLOAD_LIMIT} bytes."
            headers = {"content-type": "text; charset=utf-8"}
            return HttpResponse(status=413, headers=headers, body=message.encode(), reached_function=False)
        event = rest_event(
            method, path, stage=self.stage, headers=headers, body=body, binary_media_types=self.binary_media_types
        )
        if len(json.dumps(event).encode()) > LAMBDA_PAYLOAD_LIMIT:
            return self.gateway_response("REQUEST_TOO_LARGE")
        invocation = self.api.invoke(event)
        if invocation.error is not None or invocation.result is None:
            return self.gateway_response("DEFAULT_5XX", detail=invocation.message)
        if len(json.dumps(invocation.result).encode()) > LAMBDA_PAYLOAD_LIMIT:
            return self.gateway_response("DEFAULT_5XX", detail="response payload over 6 MB")
        return self._http_response(invocation.result, accept=event["headers"].get("Accept", ""))

    def stage_path(self, url: str) -> str:
        """The resource path of a link: a relative link must not be missing the stage, an absolute one names it."""
        parts = urlsplit(url)
        if not parts.scheme:
            return url
        assert parts.netloc == HOST, f"{url} leaves the API's host"
        prefix = f"/{self.stage}/"
        assert parts.path.startswith(prefix), f"{url} drops the stage /{self.stage} (API Gateway answers 403)"
        return parts.path[len(prefix) - 1 :] + (f"?{parts.query}" if parts.query else "")

    def gateway_response(self, response_type: str, *, detail: str = "") -> HttpResponse:
        status, message = DEFAULT_GATEWAY_RESPONSES[response_type]
        configured = self.gateway_responses.get(response_type)
        if configured is None:
            body = json.dumps({"message": message}).encode()
        else:
            status = configured.status or status
            body = _render(configured.template or '{"message":$context.error.messageString}', message).encode()
        return HttpResponse(
            status=status,
            headers={"content-type": "application/json"},
            body=body,
            reached_function=response_type != "REQUEST_TOO_LARGE",
            detail=detail[-3000:],
        )

    def _http_response(self, result: dict[str, Any], *, accept: str) -> HttpResponse:
        headers = {name.lower(): str(value) for name, value in (result.get("headers") or {}).items()}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers[name.lower()] = ", ".join(str(value) for value in values)
        body_text: str = result.get("body") or ""
        # REST APIs decode a base64 body only when the request's Accept matches a binary media type.
        if result.get("isBase64Encoded") and any(
            _matches(kind, self.binary_media_types) for kind in accept.split(",") if kind.strip()
        ):
            body = base64.b64decode(body_text)
        else:
            body = body_text.encode()
        return HttpResponse(status=int(result["statusCode"]), headers=headers, body=body, reached_function=True)


def _matches(content_type: str, media_types: tuple[str, ...]) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return bool(kind) and any(fnmatch.fnmatchcase(kind, pattern.lower()) for pattern in media_types)


def _render(template: str, message: str) -> str:
    """The few $context variables a gateway response template uses."""
    values = {
        "$context.error.messageString": json.dumps(message),
        "$context.error.message": message,
        "$context.requestId": str(uuid.uuid4()),
    }
    return re.sub(r"\$context\.[A-Za-z.]+", lambda m: values.get(m.group(0), ""), template)
