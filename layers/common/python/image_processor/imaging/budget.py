"""Admitting decodes by the memory they will take, not by their count or pixels alone."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import ImageTooLarge
from ..models import CropBox
from .probe import ImageInfo

# Rows libvips keeps in flight for a streamed (sequential) decode, and fixed costs per decode.
_STREAM_ROWS = 64
_OVERHEAD_BYTES = 4 * 1024 * 1024
# Formats whose decoder holds the whole frame: libwebp, libheif, libnsgif (RGBA), and Pillow's formats.
_WHOLE_FRAME = frozenset({"WEBP", "HEIF", "AVIF", "GIF", "BMP", "TIFF"})


def decode_cost(info: ImageInfo, box: CropBox | None = None) -> int:
    """Bytes a crop of `box` (the whole image if None) will hold at its peak, from the header alone.

    A baseline JPEG or PNG streams: a few rows of the full width plus the crop. A progressive JPEG
    buffers every DCT coefficient (2 bytes per sample per component), an interlaced PNG and the
    whole-frame formats hold every decoded sample. Metadata (a PNG's profile is capped at 1 MiB inflated,
    see png_chunks) counts too.
    """
    width, height = info.stored_size
    pixels = width * height
    sample = info.bands * info.bytes_per_sample
    crop_pixels = pixels if box is None else box.width * box.height
    cost = _OVERHEAD_BYTES + width * _STREAM_ROWS * sample + crop_pixels * max(sample, 3)
    if info.format == "JPEG" and info.progressive:
        cost += pixels * info.bands * 2
    elif (info.format == "PNG" and info.progressive) or info.format in _WHOLE_FRAME:
        cost += pixels * max(sample, 4) * (2 if info.decoder == "pillow" else 1)
    if info.orientation != 1:
        cost += crop_pixels * sample  # the crop is copied to memory to be rotated
    # Metadata is held by the loader, copied to the image, and the profile again by the colour transform.
    cost += info.metadata_bytes * 3
    return cost


class MemoryBudget:
    """A byte semaphore shared by every decode in the process (manual crops and smart-crop jobs).

    Work that alone exceeds the whole budget is refused (422 image_too_large); other work waits, in
    arrival order, until enough is free.
    """

    def __init__(self, total_bytes: int) -> None:
        self.total = total_bytes
        self._used = 0
        self._condition = threading.Condition()
        self._queue: list[object] = []

    @contextmanager
    def reserve(self, cost: int) -> Iterator[None]:
        if cost > self.total:
            raise ImageTooLarge(
                "source_image would need more memory to decode than the service allows", field="source_image"
            )
        ticket = object()
        with self._condition:
            self._queue.append(ticket)
            try:
                self._condition.wait_for(lambda: self._queue[0] is ticket and self._used + cost <= self.total)
            finally:
                self._queue.remove(ticket)
                self._condition.notify_all()
            self._used += cost
        try:
            yield
        finally:
            with self._condition:
                self._used -= cost
                self._condition.notify_all()
