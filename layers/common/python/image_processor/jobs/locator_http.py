"""The smart crop's external AI service: POST the photo, get the product's box back.

Its own module so that httpx and tenacity are imported only when AI_SERVICE_URL is set: the worker's
cold start does not pay for a client it does not use.
"""

import io
import time

import httpx
from PIL import Image
from pydantic import ValidationError
from tenacity import retry, retry_if_exception, stop_after_attempt, stop_after_delay, wait_exponential

from ..errors import ObjectLocatorError
from ..models import CropBox
from ..urls import check_url
from .locator import Location

MAX_RESPONSE_BYTES = 64 * 1024


class HttpObjectLocator:
    """Calls an external model: POST the JPEG, expect {"x", "y", "width", "height"} back.

    The URL must be https, except on a loopback address (a model run beside the service in development).
    Proxy variables and .netrc are not read (`trust_env=False`): the image goes only where the URL says.
    All attempts together end within `deadline_seconds`, and an answer larger than `max_response_bytes`
    is refused without being read to its end.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float,
        max_attempts: int,
        deadline_seconds: float | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        client: httpx.Client | None = None,
    ):
        check_url(url)
        self._url = url
        self._timeout = timeout_seconds
        self._deadline = deadline_seconds if deadline_seconds is not None else timeout_seconds * max_attempts
        self._max_response_bytes = max_response_bytes
        self._client = client or httpx.Client(timeout=timeout_seconds, trust_env=False, follow_redirects=False)
        self._max_attempts = max_attempts

    def locate(self, image: Image.Image) -> Location:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=85)
        payload = buffer.getvalue()
        ends_at = time.monotonic() + self._deadline
        call = retry(
            retry=retry_if_exception(lambda exc: isinstance(exc, ObjectLocatorError) and exc.transient),
            stop=stop_after_attempt(self._max_attempts) | stop_after_delay(self._deadline),
            wait=wait_exponential(multiplier=0.5, max=8),
            reraise=True,
        )(self._post)
        return Location(box=call(payload, ends_at), object_found=True)

    def _post(self, payload: bytes, ends_at: float) -> CropBox:
        remaining = ends_at - time.monotonic()
        if remaining <= 0:
            raise ObjectLocatorError("AI service did not answer within its deadline", transient=False)
        timeout = httpx.Timeout(min(self._timeout, remaining))
        try:
            with self._client.stream(
                "POST", self._url, content=payload, headers={"Content-Type": "image/jpeg"}, timeout=timeout
            ) as response:
                status = response.status_code
                body = self._read_capped(response, ends_at) if status < 400 else b""
        except httpx.TimeoutException as exc:
            raise ObjectLocatorError(f"AI service timed out: {exc}", transient=True) from exc
        except httpx.TransportError as exc:
            raise ObjectLocatorError(f"AI service unreachable: {exc}", transient=True) from exc
        if status >= 500 or status == 429:
            raise ObjectLocatorError(f"AI service answered {status}", transient=True)
        if status >= 300:
            raise ObjectLocatorError(f"AI service rejected the image ({status})", transient=False)
        try:
            return CropBox.model_validate_json(body)
        except ValidationError as exc:
            raise ObjectLocatorError(f"AI service returned an unusable box: {exc}", transient=False) from exc

    def _read_capped(self, response: httpx.Response, ends_at: float) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_response_bytes:
            raise ObjectLocatorError(
                f"AI service answer is larger than {self._max_response_bytes} bytes", transient=False
            )
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > self._max_response_bytes:
                raise ObjectLocatorError(
                    f"AI service answer is larger than {self._max_response_bytes} bytes", transient=False
                )
            if time.monotonic() > ends_at:
                raise ObjectLocatorError("AI service did not answer within its deadline", transient=False)
        return bytes(body)
