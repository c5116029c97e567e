"""Process-wide settings of libvips and Pillow, applied once when the services are built."""

import pyvips
from PIL import Image, PngImagePlugin

from .deadline import DEFAULT_DECODE_TIMEOUT_SECONDS, set_decode_timeout

# Pillow's PNG text chunks (it still decodes BMP, HEVC HEIC and the analysis thumbnails): one chunk
# and all of them together may take this much, instead of Pillow's 1 MB and 64 MB.
PNG_TEXT_CHUNK_BYTES = 64 * 1024
PNG_TEXT_TOTAL_BYTES = 256 * 1024


def configure(*, max_pixels: int, decode_timeout_seconds: float = DEFAULT_DECODE_TIMEOUT_SECONDS) -> None:
    set_decode_timeout(decode_timeout_seconds)
    # libvips's operation cache would keep recent inputs (whole uploads) alive after the request.
    pyvips.cache_set_max(0)
    # Loaders libvips marks untrusted (none is on the allow-list) cannot run even if reached.
    pyvips.block_untrusted_set(True)
    Image.MAX_IMAGE_PIXELS = max_pixels
    PngImagePlugin.MAX_TEXT_CHUNK = PNG_TEXT_CHUNK_BYTES
    PngImagePlugin.MAX_TEXT_MEMORY = PNG_TEXT_TOTAL_BYTES
    # Pillow's block cache is left to its own PILLOW_BLOCKS_MAX, read from the environment when PIL is
    # imported (default 0): keeping 16 freed blocks made a 12 MP BMP crop about 25 ms faster for about
    # 30 MB more peak RSS, and Pillow decodes only BMP, HEVC HEIC and the analysis thumbnails.
