"""A deterministic photo-like JPEG: a studio-sweep gradient, sensor noise and a product in the middle."""

import io

import numpy as np
from PIL import Image, ImageDraw

SEED = 20240601


def photo_jpeg(width: int = 4000, height: int = 3000, *, seed: int = SEED, quality: int = 90) -> bytes:
    """About 3.4 MB at 4000x3000 (12 megapixels), like a phone photo of a product on a plain backdrop."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    columns = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    sweep = 235 - 45 * rows - 15 * columns
    channels = [sweep + 4, sweep, sweep - 6]
    pixels = np.stack([np.broadcast_to(channel, (height, width)) for channel in channels], axis=-1)
    pixels = pixels + rng.normal(0.0, 14.0, size=(height, width, 3)).astype(np.float32)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    _draw_product(image, rng)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _draw_product(image: Image.Image, rng: np.random.Generator) -> None:
    width, height = image.size
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = width // 4, height // 5, width * 3 // 4, height * 4 // 5
    draw.rounded_rectangle((left, top, right, bottom), radius=min(width, height) // 20, fill=(40, 70, 140))
    for _ in range(24):
        x, y = int(rng.integers(left, right)), int(rng.integers(top, bottom))
        size = int(rng.integers(max(2, width // 80), max(3, width // 12)))
        colour = (int(rng.integers(0, 256)), int(rng.integers(0, 256)), int(rng.integers(0, 256)))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x, y, min(right, x + size), min(bottom, y + size)), fill=colour)
