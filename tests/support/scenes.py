"""A product on a plain background: an image whose main object is known, for checking smart crops."""

import io
from dataclasses import dataclass

from PIL import Image, ImageChops

from tests.support.images import encode

BACKGROUND = (245, 245, 245)
OBJECT = (30, 90, 200)


@dataclass(frozen=True)
class Scene:
    jpeg: bytes
    width: int
    height: int
    box: tuple[int, int, int, int]  # left, top, right, bottom of the object


def product_on_plain_background(
    width: int = 640, height: int = 480, box: tuple[int, int, int, int] = (380, 120, 540, 360)
) -> Scene:
    image = Image.new("RGB", (width, height), BACKGROUND)
    image.paste(OBJECT, box)
    return Scene(jpeg=encode(image, quality=95), width=width, height=height, box=box)


def object_share(jpeg: bytes) -> float:
    """The fraction of the image's pixels that are the object's colour."""
    with Image.open(io.BytesIO(jpeg)) as image:
        rgb = image.convert("RGB")
    difference = ImageChops.difference(rgb, Image.new("RGB", rgb.size, OBJECT))
    far = [band.point(lambda v: 255 if v > 40 else 0) for band in difference.split()]
    outside = ImageChops.lighter(ImageChops.lighter(far[0], far[1]), far[2])
    return outside.histogram()[0] / (rgb.width * rgb.height)
