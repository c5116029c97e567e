"""'Find the main object' services: a pixel-based mock and an HTTP client for a real model."""

import io
import time
from typing import Protocol

import httpx
from PIL import Image, ImageChops, ImageFilter, ImageStat
from pydantic import ValidationError
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from .errors import ObjectLocatorError
from .models import CropBox

_ANALYSIS_SIZE = 256
_DIFFERENCE_THRESHOLD = 40
_MARGIN_RATIO = 0.05
_FALLBACK_RATIO = 0.8


class ObjectLocator(Protocol):
    def locate(self, image: Image.Image) -> CropBox: ...


class MockObjectLocator:
    """Stands in for the AI: the region that differs from the border colour, with a margin.

    Falls back to a centred box when nothing stands out. `latency_seconds` imitates a model's
    response time; it runs in a worker thread, never on the event loop.
    """

    def __init__(self, *, latency_seconds: float = 0.0) -> None:
        self._latency = latency_seconds

    def locate(self, image: Image.Image) -> CropBox:
        if self._latency:
            time.sleep(self._latency)
        width, height = image.size
        small = image.convert("RGB")
        small.thumbnail((_ANALYSIS_SIZE, _ANALYSIS_SIZE))
        scale_x, scale_y = width / small.width, height / small.height
        bbox = _foreground_bbox(small)
        if bbox is None:
            return centred_box(width, height)
        left, top, right, bottom = bbox
        margin_x, margin_y = (right - left) * _MARGIN_RATIO, (bottom - top) * _MARGIN_RATIO
        x0 = max(0, int((left - margin_x) * scale_x))
        y0 = max(0, int((top - margin_y) * scale_y))
        x1 = min(width, max(x0 + 1, round((right + margin_x) * scale_x)))
        y1 = min(height, max(y0 + 1, round((bottom + margin_y) * scale_y)))
        return CropBox(x=x0, y=y0, width=x1 - x0, height=y1 - y0)


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
    """Calls an external model: POST the JPEG, expect {"x", "y", "width", "height"} back."""

    def __init__(self, url: str, *, timeout_seconds: float, max_attempts: int, client: httpx.Client | None = None):
        self._url = url
        self._client = client or httpx.Client(timeout=timeout_seconds)
        self._max_attempts = max_attempts

    def locate(self, image: Image.Image) -> CropBox:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=85)
        payload = buffer.getvalue()
        call = retry(
            retry=retry_if_exception(lambda exc: isinstance(exc, ObjectLocatorError) and exc.transient),
            stop=stop_after_attempt(self._max_attempts),
            wait=wait_exponential(multiplier=0.5, max=8),
            reraise=True,
        )(self._post)
        return call(payload)

    def _post(self, payload: bytes) -> CropBox:
        try:
            response = self._client.post(self._url, content=payload, headers={"Content-Type": "image/jpeg"})
        except httpx.TimeoutException as exc:
            raise ObjectLocatorError(f"AI service timed out: {exc}", transient=True) from exc
        except httpx.TransportError as exc:
            raise ObjectLocatorError(f"AI service unreachable: {exc}", transient=True) from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise ObjectLocatorError(f"AI service answered {response.status_code}", transient=True)
        if response.status_code >= 400:
            raise ObjectLocatorError(f"AI service rejected the image ({response.status_code})", transient=False)
        try:
            return CropBox.model_validate_json(response.content)
        except ValidationError as exc:
            raise ObjectLocatorError(f"AI service returned an unusable box: {exc}", transient=False) from exc
