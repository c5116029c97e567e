"""The same pixel work as a manual crop, in raw Pillow and in-process: no HTTP, no validation, no storage."""

import io

import pyvips
from PIL import Image, ImageOps

Box = tuple[int, int, int, int]  # left, upper, right, lower


def raw_pillow_crop(data: bytes, box: Box, *, quality: int = 90) -> bytes:
    """Open, apply EXIF orientation (in place, as the service does), convert to RGB, crop and encode a JPEG."""
    with Image.open(io.BytesIO(data)) as image:
        ImageOps.exif_transpose(image, in_place=True)
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        buffer = io.BytesIO()
        rgb.crop(box).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def raw_vips_crop(data: bytes, box: Box, *, quality: int = 90) -> bytes:
    """The same crop in raw libvips: sequential decode that stops at the crop's last row, then encode."""
    left, upper, right, lower = box
    image = pyvips.Image.new_from_buffer(data, "", access="sequential")
    jpeg: bytes = image.crop(left, upper, right - left, lower - upper).jpegsave_buffer(Q=quality, keep=0)
    return jpeg
