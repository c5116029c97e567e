"""One signed POST of a JSON body to an allow-listed target (Standard Webhooks: webhook-id,
webhook-timestamp, webhook-signature, HMAC-SHA256 with the `whsec_` secret).

Redirects are never followed (a 3xx is a failed attempt), timeouts are short and at most
`max_answer_bytes` of an answer are read."""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks import Webhook

from .targets import TargetRefused, WebhookPolicy

_ANSWER_CHUNK_BYTES = 4096


@dataclass(frozen=True)
class Attempt:
    delivered: bool
    # `HTTP 204`, `refused: ...`, `error: ConnectTimeout`: what the job record shows as the last status.
    status: str


class WebhookSender:
    def __init__(
        self,
        secret: str,
        policy: WebhookPolicy,
        *,
        timeout_seconds: float = 5.0,
        max_answer_bytes: int = 64 * 1024,
    ) -> None:
        self._signer = Webhook(secret)
        self._policy = policy
        self._timeout = httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 3.0))
        self._max_answer_bytes = max_answer_bytes

    def signed_headers(self, message_id: str, body: str, now: datetime | None = None) -> dict[str, str]:
        timestamp = now or datetime.now(UTC)
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": self._signer.sign(message_id, timestamp, body),
            "content-type": "application/json",
        }

    def send(self, url: str, message_id: str, payload: dict[str, Any]) -> Attempt:
        try:
            target = self._policy.resolve(url)
        except TargetRefused as exc:
            return Attempt(False, f"refused: {exc}")
        body = json.dumps(payload, separators=(",", ":"))
        headers = self.signed_headers(message_id, body) | {"host": _host_header(url)}
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        try:
            with (
                httpx.Client(timeout=self._timeout, follow_redirects=False, trust_env=False) as client,
                client.stream(
                    "POST", target.connect_url, content=body.encode(), headers=headers, extensions=extensions
                ) as response,
            ):
                self._drain(response)
        except httpx.HTTPError as exc:
            return Attempt(False, f"error: {type(exc).__name__}")
        return Attempt(response.is_success, f"HTTP {response.status_code}")

    def _drain(self, response: httpx.Response) -> None:
        """Read at most the cap of the answer (its content is not used), then let the connection go."""
        received = 0
        for chunk in response.iter_raw(_ANSWER_CHUNK_BYTES):
            received += len(chunk)
            if received >= self._max_answer_bytes:
                break


def _host_header(url: str) -> str:
    return httpx.URL(url).netloc.decode()
