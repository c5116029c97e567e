"""'Find the main object' services: a pixel-based mock and an HTTP client for a real model."""

import io
import ipaddress
import time
from dataclasses import dataclass
from typing import Protocol

import httpx
from PIL import Image, ImageChops, ImageFilter, ImageStat
from pydantic import ValidationError
from tenacity import retry, retry_if_exception, stop_after_attempt, stop_after_delay, wait_exponential

from .errors import ObjectLocatorError
from .models import CropBox

_ANALYSIS_SIZE = 256
_DIFFERENCE_THRESHOLD = 40
_MARGIN_RATIO = 0.05
_FALLBACK_RATIO = 0.8
MAX_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Location:
    """The box to crop to, and whether it frames an object found in the image (False: a centred fallback)."""

    box: CropBox
    object_found: bool


class ObjectLocator(Protocol):
    def locate(self, image: Image.Image) -> Location: ...


class MockObjectLocator:
    """Stands in for the AI: the region that differs from the border colour, with a margin.

    Falls back to a centred box when nothing stands out. `latency_seconds` imitates a model's
    response time; it runs in a worker thread, never on the event loop.
    """

    def __init__(self, *, latency_seconds: float = 0.0) -> None:
        self._latency = latency_seconds

    def locate(self, image: Image.Image) -> Location:
        if self._latency:
            time.sleep(self._latency)
        width, height = image.size
        small = image.convert("RGB")
        small.thumbnail((_ANALYSIS_SIZE, _ANALYSIS_SIZE))
        scale_x, scale_y = width / small.width, height / small.height
        bbox = _foreground_bbox(small)
        if bbox is None:
            return Location(box=centred_box(width, height), object_found=False)
        left, top, right, bottom = bbox
        margin_x, margin_y = (right - left) * _MARGIN_RATIO, (bottom - top) * _MARGIN_RATIO
        x0 = max(0, int((left - margin_x) * scale_x))
        y0 = max(0, int((top - margin_y) * scale_y))
        x1 = min(width, max(x0 + 1, round((right + margin_x) * scale_x)))
        y1 = min(height, max(y0 + 1, round((bottom + margin_y) * scale_y)))
        return Location(box=CropBox(x=x0, y=y0, width=x1 - x0, height=y1 - y0), object_found=True)


def centred_box(width: int, height: int) -> CropBox:
    box_width = max(1, int(width * _FALLBACK_RATIO))
    box_height = max(1, int(height * _FALLBACK_RATIO))
    return CropBox(x=(width - box_width) // 2, y=(height - box_height) // 2, width=box_width, height=box_height)


def _foreground_bbox(image: Image.Image) -> tuple[int, int, int, int] | None:
    background = _border_colour(image)
    difference = ImageChops.difference(image, Image.new("RGB", image.size, background)).convert("L")
    mask = difference.filter(ImageFilter.MedianFilter(3)).point(lambda v: 255 if v > _DIFFERENCE_THRESHOLD else 0)
    bbox = mask.getbbox()
    if bbox is None or bbox == (0, 0, image.width, image.height):
        return None
    return bbox


def _border_colour(image: Image.Image) -> tuple[int, int, int]:
    """Median colour of the one-pixel frame around the image."""
    width, height = image.size
    rows = [image.crop((0, 0, width, 1)), image.crop((0, height - 1, width, height))]
    columns = [image.crop((0, 0, 1, height)), image.crop((width - 1, 0, width, height))]
    strips = rows + [column.transpose(Image.Transpose.ROTATE_90) for column in columns]
    border = Image.new("RGB", (sum(strip.width for strip in strips), 1))
    offset = 0
    for strip in strips:
        border.paste(strip, (offset, 0))
        offset += strip.width
    red, green, blue = (int(value) for value in ImageStat.Stat(border).median[:3])
    return red, green, blue


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


def check_url(url: str) -> None:
    """Refuse anything but https, and plain http to a loopback address (for a model run locally)."""
    parsed = httpx.URL(url)
    if parsed.scheme == "https":
        return
    if parsed.scheme == "http" and _is_loopback(parsed.host):
        return
    raise ValueError(f"AI_SERVICE_URL must be https (http only to a loopback address): {url}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
